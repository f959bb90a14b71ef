import type { Pool } from '../db/pool.ts';
import { conflict, notFound } from '../errors.ts';
import { hashToken, newOperatorToken } from './tokens.ts';

export type OperatorRole = 'viewer' | 'operator';

export interface Operator {
  name: string;
  role: OperatorRole;
  createdAt: string;
  createdBy: string;
  /** Set once revoked: the token no longer works and its sessions have ended. */
  revokedAt: string | null;
}

interface OperatorRow {
  name: string;
  role: OperatorRole;
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
}

const toOperator = (row: OperatorRow): Operator => ({
  name: row.name,
  role: row.role,
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by,
  revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
});

export interface Operators {
  /** Creates the operator and returns its token: the only time anyone sees it. */
  create(input: { name: string; role: OperatorRole }, createdBy: string): Promise<Operator & { token: string }>;
  list(): Promise<Operator[]>;
  /** Revokes the operator's token and ends its ops sessions, in one transaction. */
  revoke(name: string): Promise<Operator>;
  /** The live operator a token belongs to, if any. */
  findByToken(tokenHash: Buffer): Promise<{ name: string; role: OperatorRole } | undefined>;
}

export function createOperators(deps: { pool: Pool }): Operators {
  const { pool } = deps;
  return {
    async create(input, createdBy) {
      const token = newOperatorToken();
      // A revoked name may be taken again (its row, hash and dates are replaced); a live one
      // may not: the conflict's WHERE leaves it alone and RETURNING comes back empty.
      const { rows } = await pool.query<OperatorRow>(
        `INSERT INTO ops_operators (name, role, token_hash, created_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE
            SET role = EXCLUDED.role, token_hash = EXCLUDED.token_hash, created_by = EXCLUDED.created_by,
                created_at = now(), revoked_at = NULL
          WHERE ops_operators.revoked_at IS NOT NULL
         RETURNING name, role, created_at, created_by, revoked_at`,
        [input.name, input.role, hashToken(token), createdBy],
      );
      if (!rows[0]) throw conflict(`An operator named "${input.name}" exists; revoke it first, or choose another name.`);
      return { ...toOperator(rows[0]), token };
    },

    async list() {
      const { rows } = await pool.query<OperatorRow>(
        'SELECT name, role, created_at, created_by, revoked_at FROM ops_operators ORDER BY revoked_at IS NOT NULL, name',
      );
      return rows.map(toOperator);
    },

    async revoke(name) {
      const { rows } = await pool.query<OperatorRow>(
        `WITH revoked AS (
           UPDATE ops_operators SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
           RETURNING name, role, created_at, created_by, revoked_at, token_hash
         ), ended AS (
           DELETE FROM ops_sessions WHERE credential IN (SELECT token_hash FROM revoked)
         )
         SELECT name, role, created_at, created_by, revoked_at FROM revoked`,
        [name],
      );
      if (!rows[0]) throw notFound(`A live operator named ${JSON.stringify(name)}`);
      return toOperator(rows[0]);
    },

    async findByToken(tokenHash) {
      const { rows } = await pool.query<{ name: string; role: OperatorRole }>(
        'SELECT name, role FROM ops_operators WHERE token_hash = $1 AND revoked_at IS NULL',
        [tokenHash],
      );
      return rows[0];
    },
  };
}
