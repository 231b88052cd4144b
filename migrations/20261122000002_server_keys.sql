-- Server-wide secrets shared by every instance: the keys that sign 2026-07-28 `requestState`
-- (one row per key id; rotation adds a row, old rows keep verifying states still in flight).
CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    secret      BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
