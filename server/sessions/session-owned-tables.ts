/**
 * The tables whose rows belong to a session: the one place that lists them. The foreign keys
 * (ON DELETE CASCADE) make "whoever deletes a session takes what it owns" true; the cleanup
 * (session-cleanup.ts) deletes these rows itself, set by set, before the sessions, because a
 * cascade runs row by row. A table that has a foreign key to `session` (or to a table listed
 * here) and is missing here would still be emptied by the cascade, but slowly and silently:
 * test/sessions/session-owned-tables.test.ts compares this list with pg_constraint, so
 * forgetting one fails the suite.
 *
 * Order matters: a table comes before the table it references (cart_items before carts), so
 * each DELETE finds nothing left for a cascade to do.
 */
export interface SessionOwnedTable {
  /** The table, as named in the migrations. */
  table: string;
  /** Its column holding the session's key. */
  column: string;
}

export const sessionOwnedTables: readonly SessionOwnedTable[] = Object.freeze([
  { table: 'cart_items', column: 'session_sid' },
  { table: 'carts', column: 'session_sid' },
  { table: 'flashes', column: 'session_sid' },
  { table: 'presence', column: 'session_sid' },
  { table: 'promotion_deliveries', column: 'session_sid' },
]);
