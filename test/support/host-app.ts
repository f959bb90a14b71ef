import express, { type Request, type RequestHandler } from 'express';
import session from 'express-session';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { deferredEmitter } from '../../server/realtime/push.ts';
import { createSocketServer, type SocketServer } from '../../server/realtime/socket-server.ts';
import { flashMiddleware } from '../../server/sessions/flash-middleware.ts';
import { createSessions, type Sessions } from '../../server/sessions/sessions.ts';
import { SessionStore } from '../../server/sessions/session-store.ts';
import { clientDistDir } from '../../server/system.ts';
import { loadAssets } from '../../server/web/assets.ts';
import { createWidgetRoutes } from '../../server/web/widget-routes.ts';
import { testLogger } from './app.ts';
import { createTestDatabase } from './database.ts';

/**
 * Someone else's Express app with flashcast's parts added by hand (until the library factory
 * does it): express-session with flashcast's store and the app's own cookie name and genid,
 * `req.flash`, the widget's script tag on plain pages, and Socket.IO on its HTTP server.
 */
export interface HostApp {
  url: string;
  pool: Pool;
  sessions: Sessions;
  store: SessionStore;
  realtime: SocketServer;
  server: Server;
  close(): Promise<void>;
}

export const HOST_SECRET = 'host-app-secret-0123456789';
export const HOST_COOKIE = 'host.sid';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A plain page of the host's: its own navigation at the top, content, a form, and the script tag. */
export function hostPage(req: Request, options: { placement?: string; hostMessages?: string[] } = {}): string {
  const placement = options.placement ? ` data-placement="${escapeHtml(options.placement)}"` : '';
  const own = (options.hostMessages ?? []).map((m) => `<p class="host-flash" data-host-flash>${escapeHtml(m)}</p>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme notes</title>
<style>
  body { margin: 0; font: 16px/1.5 Georgia, serif; color: #222; background: #fafaf7; }
  nav { display: flex; gap: 1.25rem; align-items: center; padding: 0.75rem 1.25rem; background: #1f2a44; color: #fff; }
  nav a { color: #fff; }
  main { max-width: 40rem; margin: 0 auto; padding: 1.5rem 1.25rem; }
  .host-flash { padding: 0.5rem 0.75rem; background: #e8f5e9; }
</style>
<script src="/flashcast/widget.js"${placement} defer></script>
</head><body>
<nav data-site-nav><strong>Acme notes</strong><a href="/page">Notes</a><a href="/page">Settings</a><a href="/page">Sign out</a></nav>
<main>
${own}
<h1>Your notes</h1>
<p>A plain page of an Express app that is not flashcast's: its own markup and styles, and one script tag.</p>
<form method="post" action="/save"><label>Title <input name="title" value="Groceries"></label> <button type="submit">Save</button></form>
<p>Session ${escapeHtml(req.sessionID.slice(0, 6))}…</p>
</main></body></html>`;
}

/**
 * A JSON window onto req.flash for the HTTP tests: ?type=&message= appends, ?type= reads,
 * ?all=1 reads them all. The same handler serves the host app and connect-flash's reference.
 */
export const flashWindow: RequestHandler = (req, res) => {
  const { type, message, all } = req.query as Record<string, string | undefined>;
  if (all) return void res.json({ result: req.flash() });
  if (type && message !== undefined) return void res.json({ result: req.flash(type, message) });
  res.json({ result: req.flash(type ?? 'info') });
};

export async function startHostApp(
  options: {
    genid?: () => string;
    /** Mounted right after flashcast's flash middleware (connect-flash's, as an app that kept it). */
    afterFlash?: RequestHandler[];
  } = {},
): Promise<HostApp> {
  const database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
  const pool = createPool({ url: database.url, logger: testLogger });
  const store = new SessionStore({ pool, ttlSeconds: 3600 });
  const sessions = createSessions({ pool });
  const emitter = deferredEmitter();
  const assets = loadAssets(clientDistDir);

  const app = express();
  app.use(createWidgetRoutes({ clientDir: clientDistDir, assets: () => assets.entry('widget') }));
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      name: HOST_COOKIE,
      store,
      secret: HOST_SECRET,
      resave: false,
      saveUninitialized: false,
      ...(options.genid ? { genid: options.genid } : {}),
    }),
  );
  app.use(flashMiddleware({ pool, store, emitter, logger: testLogger }));
  for (const handler of options.afterFlash ?? []) app.use(handler);
  app.get('/page', (req, res) => {
    (req.session as unknown as { seen?: number }).seen = Date.now(); // a session, so the widget's socket has one
    res.type('html').send(hostPage(req, { placement: typeof req.query.placement === 'string' ? req.query.placement : undefined }));
  });
  // The host renders its messages itself, as connect-flash apps do.
  app.get('/rendered', (req, res) => {
    (req.session as unknown as { seen?: number }).seen = Date.now();
    res.type('html').send(hostPage(req, { hostMessages: req.flash('info') }));
  });
  app.post('/save', (req, res) => {
    req.flash('info', `Saved "${String(req.body?.title ?? '')}".`);
    res.redirect(typeof req.query.next === 'string' ? req.query.next : '/page');
  });
  app.get('/api/flash', flashWindow);

  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const realtime = createSocketServer(server, {
    pool,
    logger: testLogger,
    store,
    sessions,
    sessionSecrets: [HOST_SECRET],
    sessionCookieName: HOST_COOKIE,
  });
  emitter.bind(realtime.io);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pool,
    sessions,
    store,
    realtime,
    server,
    async close() {
      await realtime.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
      await database.drop();
    },
  };
}
