-- The durable inbound queue: one row per remote event (SharePoint one-way events,
-- custom and unstructured data). Payloads may be AES-256-GCM ciphertext (`encrypted`).
CREATE TABLE inbound_events (
    id              BIGSERIAL PRIMARY KEY,
    workflow_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    encrypted       BOOLEAN NOT NULL DEFAULT FALSE,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    instance_id     BIGINT,
    received_at     BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX inbound_events_due ON inbound_events (next_attempt_at) WHERE state IN ('queued', 'running');
CREATE INDEX inbound_events_state ON inbound_events (state, id);
