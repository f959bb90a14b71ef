import { Router } from 'express';
import { opsApi } from '../../protocol/ops-api.ts';
import type { AuditLog } from './audit-log.ts';
import type { Operators } from './operators.ts';
import { principalOf, requireRole } from './ops-auth.ts';
import { parseInput } from '../http/validate.ts';

/**
 * Who is signed in, the operators, and the audit trail (CONTRACT.md), mounted under /ops/api
 * behind authentication. Operators are managed by the administrator (OPS_TOKEN) alone.
 *
 * GET /session → {actor, role, via}; GET /operators → {operators}; POST /operators
 * {name, role} → 201 {name, role, ..., token} (the token is shown this once); DELETE
 * /operators/:name → the revoked operator; GET /audit?actor&action&result&target&since&until&
 * before&limit → {entries, next?}, newest first.
 */
export function createOpsAccessRoutes(deps: { operators: Operators; audit: AuditLog }): Router {
  const { operators, audit } = deps;
  const router = Router();

  router.get('/session', (_req, res) => {
    const { actor, role, via } = principalOf(res);
    res.json({ actor, role, via });
  });

  router.use('/operators', requireRole('admin'));

  router.get('/operators', async (_req, res) => {
    res.json({ operators: await operators.list() });
  });

  router.post('/operators', async (req, res) => {
    const input = parseInput(opsApi['POST /operators'].body, req.body ?? {});
    const created = await operators.create(input, principalOf(res).actor);
    res.status(201).json(created);
  });

  router.delete('/operators/:name', async (req, res) => {
    const { name } = parseInput(opsApi['DELETE /operators/:name'].params, { name: req.params.name });
    res.json(await operators.revoke(name));
  });

  router.get('/audit', async (req, res) => {
    res.json(await audit.list(parseInput(opsApi['GET /audit'].query, { ...req.query })));
  });

  return router;
}
