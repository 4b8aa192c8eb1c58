-- An instance's open waits, read with every command's answer (the instance view) and by
-- migrations. With only `waits_instance` and the open-wait partial indexes, PostgreSQL's
-- planner, on statistics older than a burst of new waits, combined `waits_open` or
-- `waits_event` (every open wait) with `waits_instance` in a bitmap AND: half a
-- millisecond per answer at 30,000 open waits, growing with them, which held K2 finishes
-- at a quarter of the database's own speed (benches/callbacks.sh, 2026-12-05). An index
-- with exactly this query's predicate is chosen whatever the statistics say.
CREATE INDEX waits_instance_open ON waits (instance_id, id) WHERE state = 'open';
