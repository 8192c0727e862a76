CREATE TABLE "daily_users" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"user_key" text NOT NULL,
	CONSTRAINT "daily_users_pkey" PRIMARY KEY("tenant_id","date","user_key")
);
--> statement-breakpoint
ALTER TABLE "daily_users" ADD CONSTRAINT "daily_users_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;