-- Accounts for HTTP Basic and SOAP credentials. Only argon2id hashes (PHC strings) are
-- stored; `rights` is a JSON array of right names such as "send_events".
CREATE TABLE accounts (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    rights        TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
