-- What the outbound and inbound runners claim: rows due (`pending`/`queued` with
-- `next_attempt_at` passed) or whose lease ran out (`running` with `lease_until` passed).
-- SQLite cannot match that OR of two states to the partial indexes on `state IN (…)`:
-- each outbox claim scanned the whole table, delivered rows included, on every runner
-- tick, and each inbound claim read every queued row through `inbound_events_state`.
-- With an index per state, each half of the condition reads only the rows it can claim.
-- The state leads each index although it is fixed by the index's condition: so the
-- planner counts two constraints on it, and prefers it to `inbound_events_state`'s one.
CREATE INDEX outbox_pending ON outbox (state, next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_running ON outbox (state, lease_until) WHERE state = 'running';
CREATE INDEX inbound_events_queued ON inbound_events (state, next_attempt_at)
    WHERE state = 'queued';
CREATE INDEX inbound_events_running ON inbound_events (state, lease_until)
    WHERE state = 'running';
