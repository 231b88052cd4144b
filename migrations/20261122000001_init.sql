-- FastMCP-MT PostgreSQL schema. Every table is keyed (or indexed) with the entity first: every
-- query of the server names its tenant, and the tenant is the natural partition.

-- Live MCP sessions. `record` is the whole SessionRecord as the server uses it; the columns beside
-- it are the fields operators query in SQL.
CREATE TABLE sessions (
    entity_id           TEXT        NOT NULL,
    id                  UUID        NOT NULL,
    protocol_version    TEXT,
    client_info         JSONB       NOT NULL DEFAULT 'null',
    client_capabilities JSONB       NOT NULL DEFAULT 'null',
    logging_level       TEXT,
    state               JSONB       NOT NULL DEFAULT '{}',
    record              JSONB       NOT NULL,
    version             BIGINT      NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (entity_id, id)
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Event logs of SSE streams (the MessageQueue). `seq` is per stream and strictly increasing in
-- commit order: a publish takes the next number from `stream_seqs` with a row lock in the same
-- statement, so a later number is never visible before an earlier one. It is the SSE event id.
-- No foreign key to sessions: streams are written by whichever instance serves a request, and a
-- stream may outlive its session by a few seconds.
CREATE TABLE stream_seqs (
    entity_id  TEXT        NOT NULL,
    session_id UUID        NOT NULL,
    stream     TEXT        NOT NULL,
    next_seq   BIGINT      NOT NULL,
    closed     BOOLEAN     NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, session_id, stream)
);
CREATE INDEX stream_seqs_updated_at ON stream_seqs (updated_at);

CREATE TABLE events (
    entity_id  TEXT        NOT NULL,
    session_id UUID        NOT NULL,
    stream     TEXT        NOT NULL,
    seq        BIGINT      NOT NULL,
    message    JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, session_id, stream, seq)
);
CREATE INDEX events_created_at ON events (created_at);

-- Clients' answers to server-to-client requests, waiting for the instance that asked.
CREATE TABLE replies (
    entity_id   TEXT        NOT NULL,
    session_id  UUID        NOT NULL,
    request_key TEXT        NOT NULL,
    reply       JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, session_id, request_key)
);

-- Every ctx log message and progress/error event. Deliberately no foreign key to sessions: the
-- log is an audit trail that must outlive the session it describes (ON DELETE CASCADE would
-- erase it, SET NULL would lose which session it was); retention removes old rows instead.
CREATE TABLE logs (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY,
    entity_id  TEXT        NOT NULL,
    session_id UUID,
    kind       TEXT        NOT NULL,
    level      TEXT        NOT NULL,
    message    TEXT        NOT NULL,
    data       JSONB       NOT NULL DEFAULT 'null',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_id, id)
);
CREATE INDEX logs_session ON logs (entity_id, session_id, id);
CREATE INDEX logs_created_at ON logs (created_at);

-- The registered catalog, upserted per server name at start-up so operators can query it in SQL
-- and every instance's admin API can read it.
CREATE TABLE tools (
    server_name   TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    description   TEXT,
    input_schema  JSONB       NOT NULL,
    output_schema JSONB,
    annotations   JSONB,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (server_name, name)
);

CREATE TABLE resources (
    server_name TEXT        NOT NULL,
    uri         TEXT        NOT NULL,
    is_template BOOLEAN     NOT NULL,
    name        TEXT        NOT NULL,
    description TEXT,
    mime_type   TEXT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (server_name, uri)
);

CREATE TABLE prompts (
    server_name TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    description TEXT,
    arguments   JSONB       NOT NULL DEFAULT '[]',
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (server_name, name)
);
