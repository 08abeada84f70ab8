-- The GIN indexes on context and step_data without pending lists (fastupdate = off): each write puts its
-- entries into the index itself. With pending lists (PostgreSQL's default) writes append to a list that is
-- merged into the index 4 MB (gin_pending_list_limit) at a time, by autovacuum or by whichever write fills
-- it — that one write, and the writes queued behind its locks, wait. bench/wal.sh, 30 s runs of creates at
-- 16 connections: the longest create took 427–482 ms with pending lists and 18–19 ms without (as without the
-- GIN indexes at all), for about 12 % more PostgreSQL CPU per create (bench/README.md).
--
-- What is pending now is merged first, while writes go on. Changing fastupdate takes an ACCESS EXCLUSIVE
-- lock on each index; it is only a catalog change, done last, so the lock is held for the commit alone (it
-- waits for running statements on workflow_instances to finish).
SELECT gin_clean_pending_list('workflow_instances_context'::regclass);
SELECT gin_clean_pending_list('workflow_instances_step_data'::regclass);
ALTER INDEX workflow_instances_context SET (fastupdate = off);
ALTER INDEX workflow_instances_step_data SET (fastupdate = off);
