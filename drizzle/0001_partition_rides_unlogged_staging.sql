-- drizzle-kit cannot express UNLOGGED or PARTITION BY, so 0000 creates plain tables
-- from src/db/schema.ts and this migration turns them into what the design needs,
-- keeping every column, constraint and index name so later generated diffs still apply.

-- Staging is a write-ahead buffer: skipping WAL makes a 202 cheap. Crash recovery
-- empties it; jobs (logged) remembers what was acknowledged, so losses are detected.
ALTER TABLE "staging" SET UNLOGGED;
--> statement-breakpoint
CREATE TABLE "rides_partitioned" (LIKE "rides" INCLUDING ALL) PARTITION BY RANGE ("from_date");
--> statement-breakpoint
DROP TABLE "rides";
--> statement-breakpoint
ALTER TABLE "rides_partitioned" RENAME TO "rides";
--> statement-breakpoint
ALTER INDEX "rides_partitioned_pkey" RENAME TO "rides_id_from_date_pk";
