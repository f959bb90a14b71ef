import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToEnd, startProcess } from '../support/process.ts';
import { Visitor } from '../support/http.ts';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'flashcast-start-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('when npm start runs on an empty DATA_DIR', () => {
  it('then it serves, stops on SIGTERM, and after a Ctrl-C and a restart the sessions are still there', async () => {
    const first = await startProcess({ DATA_DIR: dataDir });
    const visitor = new Visitor(first.url);
    expect((await visitor.request('/')).status).toBe(200);
    expect((await visitor.json('/api/cart/items', { method: 'POST', json: { sku: 'doohickey', qty: 3 } })).status).toBe(201);

    // A second web process on the same DATA_DIR joins its PostgreSQL; its stop leaves it running.
    const second = await startProcess({ DATA_DIR: dataDir, ROLE: 'web' });
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    process.kill(second.child.pid!, 'SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
    expect((await visitor.request('/')).status).toBe(200);

    process.kill(first.child.pid!, 'SIGTERM');
    expect(await first.exited, first.output()).toBe(0);

    const restarted = await startProcess({ DATA_DIR: dataDir });
    const again = new Visitor(restarted.url);
    for (const [name, value] of visitor.cookies) again.cookies.set(name, value);
    expect((await again.json('/api/cart')).body).toEqual({ items: [{ sku: 'doohickey', qty: 3 }], count: 3 });

    // Ctrl-C reaches the whole process group, PostgreSQL included.
    process.kill(-restarted.child.pid!, 'SIGINT');
    expect(await restarted.exited, restarted.output()).toBe(0);

    const third = await startProcess({ DATA_DIR: dataDir });
    const still = new Visitor(third.url);
    for (const [name, value] of visitor.cookies) still.cookies.set(name, value);
    expect((await still.json('/api/cart')).body).toEqual({ items: [{ sku: 'doohickey', qty: 3 }], count: 3 });
    process.kill(third.child.pid!, 'SIGTERM');
    expect(await third.exited, third.output()).toBe(0);
  }, 120_000);
});

describe('when a setting is bad', () => {
  it('then the process stops before starting anything, naming the setting', async () => {
    const { code, output } = await runToEnd({ DATA_DIR: dataDir, PORT: 'eighty' });
    expect(code).toBe(78);
    expect(output).toContain('PORT');
  });
});
