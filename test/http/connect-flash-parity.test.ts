import express from 'express';
import session from 'express-session';
import flash from 'connect-flash';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flashWindow, startHostApp, type HostApp } from '../support/host-app.ts';
import { Visitor } from '../support/http.ts';

/**
 * The same calls against connect-flash over express-session's MemoryStore and against
 * flashcast's req.flash: the same results, call for call. The flashcast app also mounts
 * connect-flash's middleware after its own, as an app that kept `app.use(flash())` does.
 */

let host: HostApp;
let reference: { url: string; server: Server };

beforeAll(async () => {
  host = await startHostApp({ afterFlash: [flash()] });
  const app = express();
  app.use(session({ secret: 'reference-secret-0123456789', resave: false, saveUninitialized: false }));
  app.use(flash());
  app.get('/api/flash', flashWindow);
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  reference = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
});
afterAll(async () => {
  await new Promise<void>((resolve) => reference?.server.close(() => resolve()));
  await host?.close();
});

const script = [
  'type=info&message=Saved!',
  'type=info',
  'type=info',
  'type=info&message=a',
  'type=info&message=b',
  'type=error&message=c',
  'type=info',
  'all=1',
  'type=warning&message=w',
  'all=1',
  'all=1',
];

async function run(url: string): Promise<unknown[]> {
  const visitor = new Visitor(url);
  const results: unknown[] = [];
  for (const query of script) results.push((await visitor.json<{ result: unknown }>(`/api/flash?${query}`)).body.result);
  return results;
}

describe('when an app calls req.flash as connect-flash users do', () => {
  it('then flashcast gives what connect-flash over MemoryStore gives, call for call', async () => {
    const expected = await run(reference.url);
    expect(expected).toEqual([1, ['Saved!'], [], 1, 2, 1, ['a', 'b'], { error: ['c'] }, 1, { warning: ['w'] }, {}]);
    expect(await run(host.url)).toEqual(expected);
  });
});
