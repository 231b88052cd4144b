-- Upstream MCP servers mounted into a scope (the stored catalog's `mcp_server` items): keyed
-- by scope and mount name, beside the tools, resources and prompts tables, and versioned with
-- them through `catalog_versions`.
CREATE TABLE catalog_mcp_servers (
    scope      TEXT        NOT NULL,
    name       TEXT        NOT NULL,
    item       JSONB       NOT NULL,
    created    BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name)
);
