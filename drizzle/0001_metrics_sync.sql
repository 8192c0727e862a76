CREATE TABLE "metrics_dirty_days" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"marked_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "metrics_dirty_days_pkey" PRIMARY KEY("tenant_id","date")
);
--> statement-breakpoint
ALTER TABLE "platform_metrics" ADD COLUMN "ended_sessions" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "metrics_dirty_days" ADD CONSTRAINT "metrics_dirty_days_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;