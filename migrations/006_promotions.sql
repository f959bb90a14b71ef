-- Up Migration

-- What promotion rounds offer visitors. A small table (tens of rows): rounds read it whole.
-- `id` is an integer identity, never reused, so a delivery can never point at a later
-- promotion that took a deleted one's id; it travels as a JSON number (protocol/events.ts).
CREATE TABLE promotions (
  id             integer          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name           text             NOT NULL,
  call_to_action text             NOT NULL,
  -- Where the call to action links: a site path or an http(s) URL (checked by the API).
  url            text,
  active         boolean          NOT NULL DEFAULT true,
  starts_at      timestamptz,
  ends_at        timestamptz,
  -- Relative chance of being picked among a session's eligible promotions.
  weight         double precision NOT NULL DEFAULT 1 CONSTRAINT promotions_weight_positive CHECK (weight > 0),
  created_at     timestamptz      NOT NULL DEFAULT now(),
  updated_at     timestamptz      NOT NULL DEFAULT now(),
  CONSTRAINT promotions_window_order CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
);

-- Which session was given which promotion, and what the visitor did with it. The primary key
-- is the "never the same promotion twice to one session" rule: a delivery is an INSERT … ON
-- CONFLICT DO NOTHING, so even rounds racing each other cannot repeat a promotion. The rows
-- go with their session (cleanup, logout): they are the per-session memory, not analytics.
--
-- promotion_id has no foreign key, deliberately: a round inserts one row per active visitor,
-- and the per-row check plus the index a cascade would need cost about 15% of a round
-- (20,000 visitors, bench/promotion-round.bench.ts). Ids are identities, never reused, so a
-- delivery of a deleted promotion can never be taken for another one; such rows only
-- remember "given", and go with their session.
CREATE TABLE promotion_deliveries (
  session_sid  text        NOT NULL REFERENCES session (sid) ON DELETE CASCADE,
  promotion_id integer     NOT NULL,
  delivered_at timestamptz NOT NULL DEFAULT now(),
  displayed_at timestamptz,
  clicked_at   timestamptz,
  dismissed_at timestamptz,
  PRIMARY KEY (session_sid, promotion_id)
);

-- Per-promotion totals, kept apart from the deliveries so that analytics outlive sessions:
-- the statement that records a delivery or an event bumps these in the same statement.
-- One row per promotion, created with it.
CREATE TABLE promotion_stats (
  promotion_id integer PRIMARY KEY REFERENCES promotions (id) ON DELETE CASCADE,
  delivered    bigint  NOT NULL DEFAULT 0,
  displayed    bigint  NOT NULL DEFAULT 0,
  clicked      bigint  NOT NULL DEFAULT 0,
  dismissed    bigint  NOT NULL DEFAULT 0
);

-- Down Migration
DROP TABLE promotion_stats;
DROP TABLE promotion_deliveries;
DROP TABLE promotions;
