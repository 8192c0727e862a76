-- A day's events and page views outgrow integer: one tenant at ~25,000 events/s for a whole
-- day passes 2^31, and the all-tenant APPLY_DELTAS_SQL then fails (22003) for every tenant.
-- One ALTER for both columns, so the table is rewritten once (it holds one row per tenant
-- per day: small).
ALTER TABLE "platform_metrics" ALTER COLUMN "events" SET DATA TYPE bigint, ALTER COLUMN "page_views" SET DATA TYPE bigint;
