CREATE TABLE "sync_runs" (
	"scope" text PRIMARY KEY NOT NULL,
	"last_run_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"synced_days" integer NOT NULL,
	"sessions_closed" integer NOT NULL
);
