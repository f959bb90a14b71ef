/**
 * A small Express app of someone else's (its own pages, login and logout) with flashcast
 * added: the session store, `req.flash` that pushes live, flashcast's routes, one script tag
 * on its pages, and Socket.IO on its HTTP server.
 *
 *   DATABASE_URL=postgres://... SESSION_SECRET=... OPS_TOKEN=... node --import tsx examples/express-app.ts
 */
import express from 'express';
import session from 'express-session';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
// In the repository; an app that installed the package writes `from 'flashcast'`.
import { createFlashcast } from '../server/flashcast.ts';

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required (see examples/README.md)`);
  return value;
};
const secret = env('SESSION_SECRET');

const flashcast = await createFlashcast({
  databaseUrl: env('DATABASE_URL'),
  sessionSecrets: [secret],
  opsToken: env('OPS_TOKEN'),
  cookieName: 'connect.sid', // express-session's default name, which this app keeps
});

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(session({ store: flashcast.store, secret, resave: false, saveUninitialized: false }));
app.use(flashcast.flash);
app.use(flashcast.routes);

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const page = (body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example app</title>
<script src="/flashcast/widget.js" defer></script>
</head><body><nav><strong>Example app</strong> <a href="/">Home</a></nav><main>${body}</main></body></html>`;

app.get('/', (req, res) => {
  const user = req.session.user;
  res
    .type('html')
    .send(
      page(
        user
          ? `<h1>Hello, ${escapeHtml(user)}</h1><form method="post" action="/logout"><button>Log out</button></form>`
          : `<h1>Sign in</h1><form method="post" action="/login"><label>Name <input name="name" required></label> <button>Log in</button></form>`,
      ),
    );
});

app.post('/login', (req, res) => {
  const name =
    String(req.body?.name ?? '')
      .trim()
      .slice(0, 60) || 'guest';
  req.session.user = name;
  req.flash('info', `Welcome, ${name}!`);
  res.redirect('/');
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((error) => (error ? next(error) : res.redirect('/')));
});

const server = http.createServer(app);
flashcast.attach(server);
server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`example app listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

process.once('SIGTERM', async () => {
  // Stop taking connections, then close flashcast (its sockets, jobs and pool) so the server's
  // open websockets end and server.close can finish.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  try {
    await flashcast.close();
    server.closeAllConnections();
    await closed;
  } catch (error) {
    console.error('could not stop cleanly', error);
    process.exitCode = 1;
  }
});
