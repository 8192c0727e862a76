-- daily_users has been neither written nor read since 0004 (daily_user_bitmaps replaced it); it
-- stayed for replicas of the release before 0004 during a rolling upgrade. The upgrade
-- order of docs/worker.md (stop the old workers, migrate, roll ingest and the CLI) leaves
-- no such replica running past the migrations.
DROP TABLE "daily_users" CASCADE;