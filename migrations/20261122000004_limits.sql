-- Per-entity limits shared by every instance: fixed-window request counters and leased slots
-- for concurrent work. Both expire; the cleanup task deletes what has.
CREATE TABLE limit_windows (
    key         TEXT NOT NULL,
    window_idx  BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, window_idx)
);

CREATE TABLE limit_slots (
    key         TEXT NOT NULL,
    slot        TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, slot)
);
