-- Up Migration

-- One row a visitor session. `sid` is the SHA-256 (base64url) of the cookie's session id,
-- never the id itself, so a leaked table cannot be replayed as cookies. Everything outside a
-- request (jobs, ops, Socket.IO rooms) knows a session by this key.
CREATE TABLE session (
  sid    text        PRIMARY KEY,
  sess   jsonb       NOT NULL,
  expire timestamptz NOT NULL
);
-- Cleanup walks expired sessions oldest first; the store's reads filter on expire too.
CREATE INDEX session_expire_idx ON session (expire);

-- A session's pending flashes, one per key (a newer flash under a key replaces the older).
-- Kept apart from `sess` so that a push is an INSERT rather than a rewrite of the session row,
-- and so a request saving its session can never erase a flash: request saves never write here.
-- `id` is shared by every session one push reached, so one broadcast can carry one id.
CREATE TABLE flashes (
  session_sid text        NOT NULL REFERENCES session (sid) ON DELETE CASCADE,
  key         text        NOT NULL,
  id          uuid        NOT NULL,
  message     text        NOT NULL,
  data        jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_sid, key)
);
-- Clearing one key everywhere (the maintenance flash at zero) is one indexed DELETE.
CREATE INDEX flashes_key_idx ON flashes (key);

-- Down Migration
DROP TABLE flashes;
DROP TABLE session;
