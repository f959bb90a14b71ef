-- Up Migration

-- The one maintenance state (DESIGN.md): idle; countdown, with its deadline and message;
-- active (maintenance mode, visitor pages answer 503). Exactly one row: its key can only be
-- true. Transitions are conditional UPDATEs of this row that NOTIFY maintenance_changed in
-- the same transaction (server/maintenance/maintenance-store.ts); `version` grows with each,
-- so a process's view keeps the newest state it has heard of, whatever order news arrives in.
CREATE TABLE maintenance (
  id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
  state      text        NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'countdown', 'active')),
  -- countdown: when it ends; active: when maintenance began. Whole milliseconds.
  deadline   timestamptz,
  message    text,
  started_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint      NOT NULL DEFAULT 0,
  CONSTRAINT maintenance_deadline_set CHECK (state = 'idle' OR deadline IS NOT NULL)
);
INSERT INTO maintenance DEFAULT VALUES;

-- Down Migration
DROP TABLE maintenance;
