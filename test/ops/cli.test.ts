import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_OPS_TOKEN, type TestApp } from '../support/app.ts';
import { Visitor } from '../support/http.ts';
import { runToEnd } from '../support/process.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const ops = (args: string[], token = TEST_OPS_TOKEN) =>
  runToEnd({ FLASHCAST_URL: t.url, OPS_TOKEN: token, DATA_DIR: '/nonexistent' }, 'server/cli/ops-cli.ts', args);

describe('when ops use the CLI against a running flashcast', () => {
  it('then it prints the API answer as JSON, and writes flashes', async () => {
    const visitor = new Visitor(t.url);
    await visitor.request('/');
    const flash = await ops(['flash', 'Hello from the CLI', '--to', 'all', '--key', 'notice']);
    expect(flash.code, flash.output).toBe(0);
    expect(JSON.parse(flash.output)).toMatchObject({ sessions: 1, flash: { key: 'notice', message: 'Hello from the CLI' } });

    const stats = await ops(['stats']);
    expect(stats.code, stats.output).toBe(0);
    expect(JSON.parse(stats.output)).toMatchObject({ total: 1, expired: 0 });
  });

  it('then bad input and a wrong token exit 1 with the server code, and an unreachable server says so', async () => {
    const bad = await ops(['flash', 'x', '--key', 'has space']);
    expect(bad.code).toBe(1);
    expect(bad.output).toContain('VALIDATION_FAILED');

    const refused = await ops(['stats'], 'wrong-token-0123456789');
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('UNAUTHORIZED');

    const away = await runToEnd({ FLASHCAST_URL: 'http://127.0.0.1:9', OPS_TOKEN: TEST_OPS_TOKEN }, 'server/cli/ops-cli.ts', ['stats']);
    expect(away.code).toBe(1);
    expect(away.output).toContain('Could not reach flashcast at http://127.0.0.1:9');
  });
});

describe('when the administrator manages operators from the CLI', () => {
  it('then create prints a token once, list shows roles without tokens, revoke ends the token, and audit shows who did what', async () => {
    const created = await ops(['operators', 'create', 'carol', '--role', 'operator']);
    expect(created.code, created.output).toBe(0);
    expect(created.output).toContain('stores only its hash');
    const token = /"token": "(fcop_[^"]+)"/.exec(created.output)?.[1];
    expect(token).toBeDefined();

    const list = await ops(['operators', 'list']);
    expect(list.code, list.output).toBe(0);
    expect(JSON.parse(list.output).operators).toEqual([
      expect.objectContaining({ name: 'carol', role: 'operator', createdBy: 'admin', revokedAt: null }),
    ]);
    expect(list.output).not.toContain(token);

    // Carol works with her own token; an operator cannot manage operators.
    const flash = await ops(['flash', 'From carol', '--to', 'all'], token);
    expect(flash.code, flash.output).toBe(0);
    const notAdmin = await ops(['operators', 'list'], token);
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.output).toContain('FORBIDDEN');

    const audit = await ops(['audit', '--actor', 'carol', '--limit', '5']);
    expect(audit.code, audit.output).toBe(0);
    expect(JSON.parse(audit.output).entries[0]).toMatchObject({
      actor: 'carol',
      role: 'operator',
      action: 'flash.push',
      target: 'all',
      result: 'ok',
      params: { message: 'From carol' },
    });

    const revoked = await ops(['operators', 'revoke', 'carol']);
    expect(revoked.code, revoked.output).toBe(0);
    expect(JSON.parse(revoked.output)).toMatchObject({ name: 'carol', revokedAt: expect.any(String) });
    const after = await ops(['stats'], token);
    expect(after.code).toBe(1);
    expect(after.output).toContain('UNAUTHORIZED');

    const trail = await ops(['audit', '--action', 'operator.', '--limit', '10']);
    expect(JSON.parse(trail.output).entries.map((e: { action: string; target: string }) => `${e.action} ${e.target}`)).toEqual([
      'operator.revoke carol',
      'operator.create carol',
    ]);
    const refusals = await ops(['audit', '--actor', 'anonymous', '--result', 'refused']);
    expect(JSON.parse(refusals.output).entries.length).toBeGreaterThanOrEqual(2);
  });
});
