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
  runToEnd({ FLASHCAST_URL: t.url, OPS_TOKEN: token, DATA_DIR: '/nonexistent' }, 'server/ops/cli.ts', args);

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

    const away = await runToEnd({ FLASHCAST_URL: 'http://127.0.0.1:9', OPS_TOKEN: TEST_OPS_TOKEN }, 'server/ops/cli.ts', ['stats']);
    expect(away.code).toBe(1);
    expect(away.output).toContain('Could not reach flashcast at http://127.0.0.1:9');
  });
});
