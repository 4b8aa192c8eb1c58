-- What one sendCustomEvent waking one waiter executes on PostgreSQL, captured with
-- log_statement = all (benches/callbacks.sh --capture) and parameterised. The event name
-- comes from a sequence (bench-0, bench-1, …), as the load generator numbers its requests.
-- Holdpoint sends the two reads in one pipeline; pgbench, without one, in two round trips.
BEGIN;
SELECT id AS inst, workflow_id, definition_hash, folio, status, current_step, fields, trigger_event, reply, error, created_at, updated_at FROM instances WHERE id IN (SELECT instance_id FROM waits WHERE state = 'open' AND event_name = (SELECT 'bench-' || nextval('bench_seq')) AND scope = 'external') ORDER BY id FOR UPDATE \gset
SELECT id AS wait, instance_id, step_id, kind, event_name, scope, state, deadline, created_at, closed_at FROM waits WHERE state = 'open' AND event_name = (SELECT 'bench-' || currval('bench_seq')) AND scope = 'external' ORDER BY instance_id, id \gset
UPDATE waits SET state = 'finished', closed_at = (extract(epoch from now()) * 1000)::bigint WHERE id = :wait AND state = 'open';
INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, source, message_id, detail) VALUES (:inst, (extract(epoch from now()) * 1000)::bigint, 'event_received', 'event', :wait, 'bench', 'orchestrator', '127.0.0.1', NULL, '{"ignored": []}');
INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, source, message_id, detail) VALUES (:inst, (extract(epoch from now()) * 1000)::bigint, 'completed', 'done', NULL, 'bench', 'orchestrator', '127.0.0.1', NULL, '{}');
UPDATE instances SET status = 'completed', current_step = NULL, fields = '{"n": 0}', reply = NULL, error = NULL, updated_at = (extract(epoch from now()) * 1000)::bigint WHERE id = :inst;
COMMIT;
