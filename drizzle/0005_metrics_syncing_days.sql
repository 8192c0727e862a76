CREATE TABLE "metrics_syncing_days" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	CONSTRAINT "metrics_syncing_days_pkey" PRIMARY KEY("tenant_id","date")
);
--> statement-breakpoint
ALTER TABLE "metrics_syncing_days" ADD CONSTRAINT "metrics_syncing_days_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;