-- Up Migration

-- Named operators (DESIGN.md "Ops access"). OPS_TOKEN stays the bootstrap administrator and
-- has no row here; every other ops credential does. Only the SHA-256 of a token is kept: the
-- tokens are 256 random bits, so a plain hash is enough to make a leaked table useless, and a
-- sign-in finds its operator by the hash (unique index) instead of comparing secrets in JS.
-- A revoked operator keeps its row, so the audit trail's names stay explained; creating the
-- name again replaces the revoked row (and its hash) rather than adding a second one.
CREATE TABLE ops_operators (
  name       text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9._-]{0,31}$'),
  role       text        NOT NULL CHECK (role IN ('viewer', 'operator')),
  token_hash bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text        NOT NULL,
  revoked_at timestamptz
);

-- Console (and Agendash) sign-ins. Apart from the visitors' `session` table on purpose: the
-- visitor session cleanup, the store's clear() and every visitor limit never see these rows.
-- `id_hash` is the SHA-256 of the cookie's random id, so the table cannot be replayed as
-- cookies. `credential` is the SHA-256 of the token that signed in: a session lives only as
-- long as that token does (a revoked operator, a rotated OPS_TOKEN end it at the next request).
-- `expires_at` moves forward with use (the idle timeout); `created_at` bounds the whole life.
CREATE TABLE ops_sessions (
  id_hash    bytea       PRIMARY KEY CHECK (length(id_hash) = 32),
  credential bytea       NOT NULL,
  actor      text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
-- Revoking an operator ends its sessions with one indexed DELETE.
CREATE INDEX ops_sessions_credential_idx ON ops_sessions (credential);

-- The audit trail: one row for every ops write (whatever its outcome) and every refused ops
-- authentication. Append-only by convention: nothing in flashcast updates or deletes these
-- rows, and no cleanup job touches the table, so it outlives sessions, operators and jobs.
-- `params` holds the request's input, bounded (server/ops-access/audit-actions.ts) and never
-- a token. `id` orders the rows (several can share `at`) and is the paging cursor.
CREATE TABLE ops_audit (
  id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text        NOT NULL,
  role       text,
  action     text        NOT NULL,
  target     text,
  params     jsonb,
  ip         text,
  user_agent text,
  result     text        NOT NULL CHECK (result IN ('ok', 'refused', 'invalid', 'failed', 'limited')),
  status     smallint
);
-- GET /ops/api/audit pages newest first by id; the filters by actor or action walk their own
-- index in the same order instead of the whole table.
CREATE INDEX ops_audit_actor_idx ON ops_audit (actor, id DESC);
CREATE INDEX ops_audit_action_idx ON ops_audit (action, id DESC);

-- Down Migration
DROP TABLE ops_audit;
DROP TABLE ops_sessions;
DROP TABLE ops_operators;
