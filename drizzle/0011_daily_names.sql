-- Top pages and top event names per local day (daily_pages, daily_event_names), built by
-- cleanup-and-sync from the raw rows of each past day, so that historical/pages and
-- historical/events add up a row per page and day instead of reading every raw row of the
-- range (1.2-1.7 s for a year of 10M events in the reads bench). The workers write nothing
-- more. platform_metrics.named_events: the rows a day's pages and names hold
-- (names_built_events: the day's events then); a day whose events differ (today, a late
-- event's day, every day before this migration) is read from its raw rows until the sync
-- builds it, 2M rows a run, the latest days first (docs/worker.md, Top pages and events).
-- Constant defaults: no table rewrite; run it before the new pods, as usual (older code
-- reads and writes none of it).
CREATE TABLE "daily_event_names" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"name_key" uuid NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"events" bigint NOT NULL,
	CONSTRAINT "daily_event_names_pkey" PRIMARY KEY("tenant_id","date","name_key")
);
--> statement-breakpoint
CREATE TABLE "daily_pages" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"page_key" uuid NOT NULL,
	"page" text NOT NULL,
	"views" bigint NOT NULL,
	CONSTRAINT "daily_pages_pkey" PRIMARY KEY("tenant_id","date","page_key")
);
--> statement-breakpoint
ALTER TABLE "platform_metrics" ADD COLUMN "named_events" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "platform_metrics" ADD COLUMN "names_built_events" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "platform_metrics" ADD COLUMN "names_built_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "daily_event_names" ADD CONSTRAINT "daily_event_names_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "daily_pages" ADD CONSTRAINT "daily_pages_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "platform_metrics_unnamed_idx" ON "platform_metrics" USING btree ("tenant_id","date") WHERE "platform_metrics"."named_events" <> "platform_metrics"."events";