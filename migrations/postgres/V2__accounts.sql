-- Accounts for HTTP Basic and SOAP credentials. Only argon2id hashes (PHC strings) are
-- stored; `rights` holds right names such as "send_events".
CREATE TABLE accounts (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    admin         BOOLEAN NOT NULL DEFAULT FALSE,
    rights        TEXT[] NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
