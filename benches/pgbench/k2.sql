-- What one K2 REST (or SOAP) FinishServerItem executes on PostgreSQL, captured with
-- log_statement = all (benches/callbacks.sh --capture) and parameterised. The first
-- statement also picks the next prepared wait (bench_targets, filled by callbacks.sh):
-- Holdpoint gets the ids from the serial number instead. Nothing is read after the
-- writes: K2 REST, SOAP and callback URLs answer without the instance's view.
BEGIN;
SELECT id AS wait, instance_id AS inst, step_id, kind, event_name, scope, state, deadline, created_at, closed_at FROM waits WHERE id = (SELECT wait_id FROM bench_targets WHERE k = (SELECT nextval('bench_seq'))) \gset
SELECT id, workflow_id, definition_hash, folio, status, current_step, fields, trigger_event, reply, error, created_at, updated_at FROM instances WHERE id = :inst FOR UPDATE;
UPDATE waits SET state = 'finished', closed_at = (extract(epoch from now()) * 1000)::bigint WHERE id = :wait AND state = 'open';
UPDATE outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, updated_at = (extract(epoch from now()) * 1000)::bigint WHERE wait_id = :wait AND state IN ('pending', 'running');
INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, source, message_id, detail) VALUES (:inst, (extract(epoch from now()) * 1000)::bigint, 'server_item_finished', 'item', :wait, 'bench', 'k2', '127.0.0.1', NULL, '{"fields": []}');
INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, source, message_id, detail) VALUES (:inst, (extract(epoch from now()) * 1000)::bigint, 'completed', 'done', NULL, 'bench', 'k2', '127.0.0.1', NULL, '{}');
UPDATE instances SET status = 'completed', current_step = NULL, fields = '{"n": 0}', reply = NULL, error = NULL, updated_at = (extract(epoch from now()) * 1000)::bigint WHERE id = :inst;
COMMIT;
