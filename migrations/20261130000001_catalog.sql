-- The stored catalog (items defined as data through the admin API) shares the tools, resources
-- and prompts tables with the mirror of each server's code catalog, keyed by scope first:
-- an entity id, `*` (every entity), or `code:SERVER` (a server's code-defined items, written at
-- start-up). No entity id contains `:` or is `*`, so the three never meet.
ALTER TABLE tools RENAME COLUMN server_name TO scope;
ALTER TABLE resources RENAME COLUMN server_name TO scope;
ALTER TABLE prompts RENAME COLUMN server_name TO scope;
UPDATE tools SET scope = 'code:' || scope;
UPDATE resources SET scope = 'code:' || scope;
UPDATE prompts SET scope = 'code:' || scope;

-- The stored definition (NULL for code rows, whose handlers are code) and the scope version at
-- which the item was created (its place in listings).
ALTER TABLE tools ADD COLUMN item JSONB, ADD COLUMN created BIGINT;
ALTER TABLE resources ADD COLUMN item JSONB, ADD COLUMN created BIGINT;
ALTER TABLE prompts ADD COLUMN item JSONB, ADD COLUMN created BIGINT;

-- One version per scope, moved by every write of it; the row with scope '' is the epoch, moved
-- by every write of any scope (instances poll it to know when to look further).
CREATE TABLE catalog_versions (
    scope   TEXT   PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO catalog_versions (scope, version) VALUES ('', 0);
