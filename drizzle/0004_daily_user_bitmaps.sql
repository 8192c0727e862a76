CREATE TABLE "tenant_users" (
	"tenant_id" uuid NOT NULL,
	"user_key" text NOT NULL,
	"user_number" integer NOT NULL,
	CONSTRAINT "tenant_users_pkey" PRIMARY KEY("tenant_id","user_key"),
	CONSTRAINT "tenant_users_number_key" UNIQUE("tenant_id","user_number")
);
--> statement-breakpoint
CREATE TABLE "daily_user_bitmaps" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"chunk" integer NOT NULL,
	"users" bit(8192) NOT NULL,
	CONSTRAINT "daily_user_bitmaps_pkey" PRIMARY KEY("tenant_id","date","chunk")
);
--> statement-breakpoint
ALTER TABLE "tenant_users" ADD CONSTRAINT "tenant_users_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "daily_user_bitmaps" ADD CONSTRAINT "daily_user_bitmaps_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- Rebuild every day already synced into the new bitmaps at the next cleanup-and-sync: until
-- then, the distinct-user total of a range reads 0 (the daily figures are unaffected).
-- daily_users stays for replicas of the previous release during a rolling upgrade.
INSERT INTO "metrics_dirty_days" ("tenant_id", "date") SELECT "tenant_id", "date" FROM "platform_metrics" ON CONFLICT DO NOTHING;
