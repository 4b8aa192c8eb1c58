-- The partial index of ended instances, its condition spelled out with OR. SQLite tests
-- `status IN ('completed', 'failed', 'cancelled')` by building a temporary b-tree of the
-- three values, and it tests an index's condition on every insert and update of a row:
-- two such b-trees for each instance update, a page allocated and cleared for each
-- (callgrind of the K2 callbacks, 2026-12-06). Comparisons joined by OR cost a few
-- instructions. The purge query states the same condition (`Dialect::ended`), without
-- which SQLite would not use this index.
DROP INDEX instances_ended;
CREATE INDEX instances_ended ON instances (updated_at, id)
    WHERE status = 'completed' OR status = 'failed' OR status = 'cancelled';
