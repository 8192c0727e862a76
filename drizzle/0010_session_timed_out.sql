-- Which sessions cleanup-and-sync ended by timeout: a provisional end, which an activity of
-- the session arriving later reopens (docs/worker.md). A constant default: no table rewrite.
-- Run it before the new pods, as usual: code from before never reads the column, and
-- what it writes to a timed-out session leaves the session as the old code would (docs/worker.md).
ALTER TABLE "user_sessions" ADD COLUMN "timed_out" boolean DEFAULT false NOT NULL;