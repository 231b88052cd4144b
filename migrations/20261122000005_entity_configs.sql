-- Per-entity configuration (which tools, resources and prompts an entity sees), edited through
-- the admin API and read by every instance.
CREATE TABLE entity_configs (
    entity_id   TEXT PRIMARY KEY,
    config      JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
