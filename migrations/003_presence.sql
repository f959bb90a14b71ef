-- Up Migration

-- Web processes ("nodes") that hold sockets, with their heartbeat. A node that stops beating
-- stops counting once its heartbeat is older than the presence window, and is swept.
CREATE TABLE presence_nodes (
  node_id      text        PRIMARY KEY,
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Which sessions have connected sockets on which node. "Active visitor" = a row here whose
-- node is fresh. Both foreign keys cascade: a deleted session or a swept node leaves no rows.
CREATE TABLE presence (
  session_sid text    NOT NULL REFERENCES session (sid) ON DELETE CASCADE,
  node_id     text    NOT NULL REFERENCES presence_nodes (node_id) ON DELETE CASCADE,
  sockets     integer NOT NULL CHECK (sockets > 0),
  PRIMARY KEY (session_sid, node_id)
);
-- Sweeping a node deletes by node_id.
CREATE INDEX presence_node_idx ON presence (node_id);

-- Down Migration
DROP TABLE presence;
DROP TABLE presence_nodes;
