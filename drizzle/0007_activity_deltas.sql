-- The daily metrics follow what the workers write instead of being recomputed from the raw
-- rows every minute: each batch appends its counts per (tenant, day, user) to activity_deltas
-- in its own transaction, and cleanup-and-sync adds them up. A day recomputed from the raw
-- rows every minute cost the sync O(day): 12-21 s of Postgres CPU for 10M rows.
-- Dirty-day marks left by older workers keep recompute_activities = true (the default), so
-- the days they wrote are still recomputed whole. Older workers must not run beside newer
-- ones (docs/worker.md, Upgrading).
CREATE TABLE "activity_deltas" (
	"tenant_id" uuid NOT NULL,
	"date" date NOT NULL,
	"user_key" text NOT NULL,
	"events" integer NOT NULL,
	"page_views" integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE "metrics_dirty_days" ADD COLUMN "recompute_activities" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "metrics_syncing_days" ADD COLUMN "recompute_activities" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "activity_deltas" ADD CONSTRAINT "activity_deltas_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- The local day an instant counts towards, as the recompute's day bounds define it: D holds
-- [D 00:00, D+1 00:00) read in the time zone. Where midnight happens twice (America/Havana
-- falls back from 01:00 to 00:00), Postgres reads "D 00:00" as the later one, so the first
-- hour of D still counts towards D-1; plain (t at time zone tz)::date would say D, and a
-- day rebuilt from its raw rows would then disagree with the deltas written for it.
CREATE FUNCTION "public"."tributary_local_day"("t" timestamptz, "tz" text) RETURNS date LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN t < (d::timestamp AT TIME ZONE tz) THEN d - 1
    WHEN t >= ((d + 1)::timestamp AT TIME ZONE tz) THEN d + 1
    ELSE d
  END FROM (SELECT (t AT TIME ZONE tz)::date AS d) local_date
$$;
