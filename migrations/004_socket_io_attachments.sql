-- Up Migration

-- The table @socket.io/postgres-adapter (web processes) and @socket.io/postgres-emitter
-- (worker) require: a message between processes travels by NOTIFY when it fits (8000
-- bytes), and through a row here, announced by NOTIFY, when it does not. Each web process's
-- adapter deletes rows older than its cleanup interval (30 s), so the table stays small.
CREATE TABLE socket_io_attachments (
  id         bigserial   PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  payload    bytea       NOT NULL
);

-- Down Migration
DROP TABLE socket_io_attachments;
