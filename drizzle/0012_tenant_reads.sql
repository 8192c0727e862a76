-- The ALTERs and policies below lock these busy tables exclusively, until the migration
-- commits: behind a long transaction (a recompute, say) they would hold up every worker
-- write meanwhile. Given up after 10 s instead (55P03: nothing is applied; run it again).
SET LOCAL lock_timeout = '10s';--> statement-breakpoint
CREATE TABLE "reader_role" (
	"name" text PRIMARY KEY NOT NULL
);
--> statement-breakpoint
ALTER TABLE "user_activities" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "platform_metrics" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "daily_event_names" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "daily_pages" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "daily_user_bitmaps" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "user_activities_tenant_reads" ON "user_activities" AS PERMISSIVE FOR SELECT TO public USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "platform_metrics_tenant_reads" ON "platform_metrics" AS PERMISSIVE FOR SELECT TO public USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "daily_event_names_tenant_reads" ON "daily_event_names" AS PERMISSIVE FOR SELECT TO public USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "daily_pages_tenant_reads" ON "daily_pages" AS PERMISSIVE FOR SELECT TO public USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
CREATE POLICY "daily_user_bitmaps_tenant_reads" ON "daily_user_bitmaps" AS PERMISSIVE FOR SELECT TO public USING (tenant_id = (select current_setting('tributary.tenant_id')::uuid));--> statement-breakpoint
-- Dashboard reads run as this database's reader role (packages/db/src/schema/tenant-reads.ts):
-- it may only SELECT the five tables above, and through their policies only the rows of the
-- tenant its transaction names. The app's role owns the tables, so the policies do not
-- apply to it. One role per database, named after it (`tributary_read_<database>`, or an
-- md5 of a name too long for a role name): roles belong to the cluster, and a role shared by
-- two Tributary databases would let either's app role read the other's rows. The name is
-- recorded in reader_role, so renaming the database later changes nothing. Creating the
-- role needs CREATEROLE (or a superuser); where the migrating role has neither, an
-- administrator makes it first, and this says how (infra/README.md, "Postgres roles").
DO $$
DECLARE
  reader text := 'tributary_read_' || CASE WHEN octet_length(current_database()) <= 48 THEN current_database() ELSE md5(current_database()) END;
  -- The role the apps connect as, which switches to the reader role: the tables' owner
  -- (infra/README.md), not necessarily the role running this (an administrator, say).
  app_role text := (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'user_activities');
  -- Postgres 16 split membership: switching to a role needs its SET option, and a
  -- CREATEROLE role that creates one holds only ADMIN on it unless it grants itself more.
  can_switch boolean;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = reader) THEN
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', reader);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'the reader role "%" does not exist, and "%" may not create roles', reader, current_user
        USING HINT = format('An administrator runs, once: CREATE ROLE %I NOLOGIN; GRANT %I TO %I; then migrate again (infra/README.md, "Postgres roles").', reader, reader, app_role);
    END;
  END IF;
  -- A superuser passes both checks.
  IF current_setting('server_version_num')::int >= 160000 THEN
    can_switch := pg_has_role(app_role, reader, 'SET');
  ELSE
    can_switch := pg_has_role(app_role, reader, 'MEMBER');
  END IF;
  IF NOT can_switch THEN
    BEGIN
      EXECUTE format('GRANT %I TO %I', reader, app_role);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'the apps'' role "%" may not switch to the reader role "%", and "%" may not grant it', app_role, reader, current_user
        USING HINT = format('An administrator runs, once: GRANT %I TO %I; then migrate again (infra/README.md, "Postgres roles").', reader, app_role);
    END;
  END IF;
  -- A warning, not an error, where the app's role may not grant it; PUBLIC has it by default.
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', reader);
  EXECUTE format('GRANT SELECT ON user_activities, platform_metrics, daily_event_names, daily_pages, daily_user_bitmaps TO %I', reader);
  INSERT INTO reader_role (name) VALUES (reader);
  -- Read by the apps' role as it switches (packages/db/src/metrics.ts), like every other table its own.
  EXECUTE format('ALTER TABLE reader_role OWNER TO %I', app_role);
END $$;--> statement-breakpoint
SET LOCAL lock_timeout TO DEFAULT;
