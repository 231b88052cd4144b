-- API keys of the built-in key authenticator: only the SHA-256 of each key is kept.
CREATE TABLE api_keys (
    hash          TEXT PRIMARY KEY,
    entity_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    scopes        JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (entity_id, id)
);
