-- Open waits by event, in instance order: a custom event reads the waiting instances and
-- their waits in instance id order (the one order every fan-out takes), which with
-- `(event_name, scope)` alone SQLite got by sorting in a temporary b-tree on every event.
-- A row's id follows the indexed columns, so `ORDER BY instance_id, id` is the index's own.
DROP INDEX waits_event;
CREATE INDEX waits_event ON waits (event_name, scope, instance_id) WHERE state = 'open';
