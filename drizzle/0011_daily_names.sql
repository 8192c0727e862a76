-- Top pages and top event names per local day (daily_pages, daily_event_names), kept by
-- cleanup-and-sync from what each worker batch appends to activity_name_deltas, so that
-- historical/pages and historical/events add up a row per page and day instead of reading
-- every raw row of the range (1.2-1.7 s for a year of 10M events in the reads bench).
-- platform_metrics.named_events says how many of a day's events those tables hold: 0 for
-- every day written before this migration, so the reads take those days from the raw rows
-- as before until `tributary recompute` rebuilds them (docs/worker.md, Upgrading to daily
-- pages and names). Constant defaults: no table rewrite. Run it before the new pods, as
-- usual; a day a worker from before it writes to is rebuilt by the sync after next.
CREATE TABLE "activity_name_deltas" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"type" text NOT NULL,
	"action" text,
	"page" text,
	"events" integer NOT NULL
);
--> statement-breakpoint
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
ALTER TABLE "activity_name_deltas" ADD CONSTRAINT "activity_name_deltas_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "daily_event_names" ADD CONSTRAINT "daily_event_names_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "daily_pages" ADD CONSTRAINT "daily_pages_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "platform_metrics_unnamed_idx" ON "platform_metrics" USING btree ("tenant_id","date") WHERE "platform_metrics"."named_events" <> "platform_metrics"."events";