import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Flash, FlashesResponse } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { AppError } from '../errors.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { SessionStore } from '../sessions/session-store.ts';
import { flashIdSchema } from '../sessions/flash.ts';
import { sessionKey } from '../sessions/session-key.ts';
import { findProduct, products, type Product } from './catalog.ts';
import { createCarts } from './carts.ts';
import type { PageAssets } from '../web/assets.ts';
import * as pages from '../web/store-pages.ts';
import { MAX_ACK_IDS } from '../../protocol/events.ts';
import { ensureStoredSession, hasStoredSession } from '../http/session-middleware.ts';
import type { SessionRateLimit } from '../http/session-rate-limit.ts';
import { parseInput } from '../http/validate.ts';

const RECENTLY_VIEWED = 5;

const cartItemSchema = z.object({
  sku: z.string().min(1).max(64),
  qty: z.number().int('must be a whole number').min(1).max(99),
});

const ackSchema = z.object({
  ids: z.array(z.string().max(64)).max(MAX_ACK_IDS, `must list at most ${MAX_ACK_IDS} ids`),
});

/**
 * The demo shop (the site flashcast is added to): its pages (home, product, cart) and its
 * /api (cart items, the visitor's pending flashes and their acknowledgement).
 */
export function createShopRoutes(deps: {
  pool: Pool;
  store: SessionStore;
  sessions: Sessions;
  assets: () => PageAssets;
  /** SESSION_RATE_LIMIT: how fast one address may start sessions. */
  newSessions: SessionRateLimit;
}): Router {
  const { store, sessions } = deps;
  const carts = createCarts(deps.pool);
  const router = Router();

  // Every answer here is this visitor's own (its flashes, its cart): never kept by a cache.
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  const pendingFlashes = (req: Request): Flash[] => (hasStoredSession(req, store) ? (req.session.flash ?? []) : []);

  /**
   * Where a new visitor's session begins: its first view of any store page (home, product,
   * cart), or its first cart item. A deep link is a first page like any other: without a
   * session its socket would be refused, and it would see no flash and no countdown.
   * Within SESSION_RATE_LIMIT it gets its session and cookie; past it, its address started
   * too many sessions this minute, and the request is refused with a 429 and Retry-After.
   * A visitor who sends its cookie back never comes here.
   */
  const startSession = (req: Request): void => {
    if (hasStoredSession(req, store)) return;
    const admission = deps.newSessions.admit(req.ip ?? req.socket.remoteAddress ?? '');
    if (!admission.admitted) {
      const { retryAfterSeconds } = admission;
      throw new AppError('TOO_MANY_SESSIONS', `Too many new sessions from your address; try again in ${retryAfterSeconds} seconds.`, {
        retryAfterSeconds,
      });
    }
    req.session.startedAt ??= Date.now();
  };

  router.get('/', async (req, res) => {
    startSession(req);
    const cartCount = hasStoredSession(req, store) ? await carts.count(sessionKey(req.sessionID)) : 0;
    res.type('html').send(pages.renderHome({ flashes: pendingFlashes(req), products, cartCount, assets: deps.assets() }));
  });

  router.get('/products/:sku', async (req, res) => {
    const product = findProduct(req.params.sku);
    if (!product) {
      res
        .status(404)
        .type('html')
        .send(pages.renderNotFound({ assets: deps.assets() }));
      return;
    }
    startSession(req);
    const recent = (req.session.recentlyViewed ?? []).filter((sku) => sku !== product.sku);
    req.session.recentlyViewed = [product.sku, ...recent].slice(0, RECENTLY_VIEWED);
    const recentlyViewed = recent.map(findProduct).filter((p): p is Product => p !== undefined);
    const cartCount = hasStoredSession(req, store) ? await carts.count(sessionKey(req.sessionID)) : 0;
    res.type('html').send(pages.renderProduct({ product, recentlyViewed, flashes: pendingFlashes(req), cartCount, assets: deps.assets() }));
  });

  router.get('/cart', async (req, res) => {
    startSession(req);
    const lines = hasStoredSession(req, store) ? await carts.lines(sessionKey(req.sessionID)) : [];
    res.type('html').send(pages.renderCart({ lines, flashes: pendingFlashes(req), assets: deps.assets() }));
  });

  router.get('/api/cart', async (req, res) => {
    const lines = hasStoredSession(req, store) ? await carts.lines(sessionKey(req.sessionID)) : [];
    res.json(carts.toJson(lines));
  });

  router.post('/api/cart/items', async (req, res) => {
    const item = parseInput(cartItemSchema, req.body ?? {});
    if (!findProduct(item.sku)) throw new AppError('UNKNOWN_SKU', `No product has the sku "${item.sku}".`);
    startSession(req);
    const key = await ensureStoredSession(req, store);
    await carts.add(key, item.sku, item.qty);
    res.status(201).json(carts.toJson(await carts.lines(key)));
  });

  router.get('/api/flashes', (req, res) => {
    const body: FlashesResponse = { flashes: pendingFlashes(req) };
    res.json(body);
  });

  router.post('/api/flashes/ack', async (req, res) => {
    const { ids } = parseInput(ackSchema, req.body ?? {});
    // Ids that are not UUIDs cannot name a flash: like unknown ids, they are ignored.
    const known = ids.filter((id) => flashIdSchema.safeParse(id).success);
    const acknowledged = hasStoredSession(req, store) ? await sessions.removeFlashes(sessionKey(req.sessionID), known) : 0;
    res.json({ acknowledged });
  });

  return router;
}
