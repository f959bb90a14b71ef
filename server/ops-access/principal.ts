/**
 * Who is calling the ops surface. `admin` is the bootstrap administrator (OPS_TOKEN) and has
 * no row of its own; named operators are `viewer` (reads) or `operator` (reads and writes).
 * Only the administrator manages operators: named administrators do not exist, so the root of
 * trust stays the one secret the deployment already keeps.
 */
export type OpsRole = 'viewer' | 'operator' | 'admin';

// The actor names are on the wire (audit entries, GET /session), so protocol/ declares them.
export { ADMIN_ACTOR, ANONYMOUS_ACTOR } from '../../protocol/ops-schemas.ts';

export interface OpsPrincipal {
  actor: string;
  role: OpsRole;
  /** How this request authenticated: a bearer token (API, CLI) or the console's ops session. */
  via: 'token' | 'session';
}

const rank: Record<OpsRole, number> = { viewer: 0, operator: 1, admin: 2 };

export const hasRole = (principal: OpsPrincipal, needed: OpsRole): boolean => rank[principal.role] >= rank[needed];
