-- Holdpoint schema, PostgreSQL flavour. Timestamps are Unix milliseconds (BIGINT) in both
-- stores so that the engine compares them the same way everywhere.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE instances (
    id              BIGSERIAL PRIMARY KEY,
    workflow_id     TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    folio           TEXT NOT NULL,
    status          TEXT NOT NULL,
    current_step    TEXT,
    fields          JSONB NOT NULL,
    trigger_event   JSONB NOT NULL,
    reply           JSONB,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX instances_workflow ON instances (workflow_id, status);

CREATE TABLE waits (
    id          BIGSERIAL PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    event_name  TEXT,
    scope       TEXT,
    state       TEXT NOT NULL,
    deadline    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    closed_at   BIGINT
);
CREATE INDEX waits_due ON waits (deadline) WHERE state = 'open';
CREATE INDEX waits_event ON waits (event_name, scope) WHERE state = 'open';
CREATE INDEX waits_instance ON waits (instance_id);

CREATE TABLE history (
    id          BIGSERIAL PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    step_id     TEXT,
    wait_id     BIGINT,
    actor       TEXT NOT NULL,
    dialect     TEXT NOT NULL,
    source      TEXT,
    message_id  TEXT,
    detail      JSONB NOT NULL
);
CREATE INDEX history_instance ON history (instance_id, id);

CREATE TABLE buffered_events (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    properties  JSONB NOT NULL,
    actor       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX buffered_events_name ON buffered_events (name, scope, id);
CREATE INDEX buffered_events_expiry ON buffered_events (expires_at);

CREATE TABLE dedup_keys (
    key         TEXT PRIMARY KEY,
    outcome     TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX dedup_keys_expiry ON dedup_keys (expires_at);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    instance_id     BIGINT NOT NULL REFERENCES instances (id),
    wait_id         BIGINT NOT NULL REFERENCES waits (id),
    kind            TEXT NOT NULL,
    request         JSONB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'running');
CREATE INDEX outbox_wait ON outbox (wait_id);
