-- Up Migration

-- The demo store's cart: a temporary object a session owns. The foreign key cascades, so
-- whoever deletes a session (logout, cleanup, ops) deletes its cart in the same statement
-- and nothing is left orphaned.
CREATE TABLE carts (
  session_sid text        PRIMARY KEY REFERENCES session (sid) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cart_items (
  session_sid text    NOT NULL REFERENCES carts (session_sid) ON DELETE CASCADE,
  sku         text    NOT NULL,
  qty         integer NOT NULL CHECK (qty BETWEEN 1 AND 99),
  PRIMARY KEY (session_sid, sku)
);

-- Down Migration
DROP TABLE cart_items;
DROP TABLE carts;
