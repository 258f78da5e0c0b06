-- Staged rides are written once and read once: json keeps the text as sent (PostgreSQL
-- only checks it) and EXTERNAL skips compressing it, where jsonb plus compression cost
-- about three times as much per staged ride (bench/, issue 3). Hand-written: the STORAGE line.
ALTER TABLE "staging" ALTER COLUMN "rides" SET DATA TYPE json;
--> statement-breakpoint
ALTER TABLE "staging" ALTER COLUMN "rides" SET STORAGE EXTERNAL;
