import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../server/db/migrate.ts';
import { sessionOwnedTables } from '../../server/sessions/session-owned-tables.ts';
import { testLogger } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/**
 * The registry of session-owned tables drives the cleanup. A table that gains a foreign key
 * to `session` (or to an owned table) in a migration and is not added to the registry would
 * still be emptied by the cascade, slowly and silently: this compares the two.
 */

let database: TestDatabase;
let client: pg.Client;
beforeAll(async () => {
  database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await database?.drop();
});

interface ForeignKey {
  child: string;
  parent: string;
  on_delete: string;
}

describe('when the migrations have run', () => {
  it('then every table owned by a session, directly or through an owned table, is in the registry, before what it references', async () => {
    const { rows } = await client.query<ForeignKey>(
      `SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent, c.confdeltype AS on_delete
         FROM pg_constraint c
        WHERE c.contype = 'f'`,
    );
    const owned = new Set<string>();
    // Transitively: owned by `session`, or by a table that is.
    for (let grew = true; grew; ) {
      grew = false;
      for (const key of rows) {
        if ((key.parent === 'session' || owned.has(key.parent)) && !owned.has(key.child)) {
          owned.add(key.child);
          grew = true;
        }
      }
    }
    const registered = sessionOwnedTables.map((entry) => entry.table);
    expect([...owned].sort()).toEqual([...registered].sort());
    // Each owned table cascades, and comes before the table it references.
    const ownership = rows.filter(
      (candidate) => owned.has(candidate.child) && (candidate.parent === 'session' || owned.has(candidate.parent)),
    );
    expect(ownership.length).toBeGreaterThanOrEqual(registered.length);
    for (const key of ownership) {
      expect(key.on_delete, `${key.child} → ${key.parent}`).toBe('c');
      if (key.parent !== 'session') expect(registered.indexOf(key.child)).toBeLessThan(registered.indexOf(key.parent));
    }
  });

  it('then every registered column exists', async () => {
    for (const { table, column } of sessionOwnedTables) {
      const { rowCount } = await client.query('SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2', [
        table,
        column,
      ]);
      expect(rowCount, `${table}.${column}`).toBe(1);
    }
  });
});
