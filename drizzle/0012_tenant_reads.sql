-- Dashboard reads run as tributary_reader (packages/db/src/schema/tenant-reads.ts): a role
-- that may only SELECT these five tables, and through the policies below only the rows of
-- the tenant its transaction names. Roles belong to the cluster, not the database, so the
-- role may exist already (another Tributary database, an earlier run, or an administrator
-- who made it because the app's role may not create roles: see infra/README.md); two
-- databases migrating at once race to create it, and the loser takes the winner's.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tributary_reader') THEN
    CREATE ROLE tributary_reader NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END $$;--> statement-breakpoint
-- The app's role switches to it inside each read transaction, so it must be a member.
-- A superuser is one already (pg_has_role is true for it).
DO $$
BEGIN
  IF NOT pg_has_role(current_user, 'tributary_reader', 'MEMBER') THEN
    EXECUTE format('GRANT tributary_reader TO %I', current_user);
  END IF;
END $$;--> statement-breakpoint
GRANT SELECT ON "user_activities", "platform_metrics", "daily_event_names", "daily_pages", "daily_user_bitmaps" TO tributary_reader;--> statement-breakpoint
ALTER TABLE "user_activities" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "platform_metrics" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "daily_event_names" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "daily_pages" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "daily_user_bitmaps" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "user_activities_tenant_reads" ON "user_activities" AS PERMISSIVE FOR SELECT TO "tributary_reader" USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "platform_metrics_tenant_reads" ON "platform_metrics" AS PERMISSIVE FOR SELECT TO "tributary_reader" USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "daily_event_names_tenant_reads" ON "daily_event_names" AS PERMISSIVE FOR SELECT TO "tributary_reader" USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "daily_pages_tenant_reads" ON "daily_pages" AS PERMISSIVE FOR SELECT TO "tributary_reader" USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "daily_user_bitmaps_tenant_reads" ON "daily_user_bitmaps" AS PERMISSIVE FOR SELECT TO "tributary_reader" USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));
