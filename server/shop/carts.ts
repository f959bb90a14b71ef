import type { Pool } from '../db/pool.ts';
import { findProduct, type Product } from './catalog.ts';

export interface CartLine {
  product: Product;
  qty: number;
}

/** The demo store's cart: rows a session owns, removed with it by the foreign key's cascade. */
export function createCarts(pool: Pool) {
  return {
    /** Adds qty of sku, creating the cart on first use; a line holds at most 99. */
    async add(sessionKey: string, sku: string, qty: number): Promise<void> {
      await pool.query(
        `WITH cart AS (
           INSERT INTO carts (session_sid) VALUES ($1)
           ON CONFLICT (session_sid) DO UPDATE SET session_sid = EXCLUDED.session_sid
           RETURNING session_sid
         )
         INSERT INTO cart_items (session_sid, sku, qty) SELECT session_sid, $2, $3 FROM cart
         ON CONFLICT (session_sid, sku) DO UPDATE SET qty = LEAST(cart_items.qty + EXCLUDED.qty, 99)`,
        [sessionKey, sku, qty],
      );
    },

    async lines(sessionKey: string): Promise<CartLine[]> {
      const { rows } = await pool.query<{ sku: string; qty: number }>(
        'SELECT sku, qty FROM cart_items WHERE session_sid = $1 ORDER BY sku',
        [sessionKey],
      );
      return rows.flatMap((row) => {
        const product = findProduct(row.sku);
        return product ? [{ product, qty: row.qty }] : [];
      });
    },

    async count(sessionKey: string): Promise<number> {
      // Named: every page view with a session asks this.
      const { rows } = await pool.query<{ n: string | null }>({
        name: 'flashcast-cart-count',
        text: 'SELECT sum(qty) AS n FROM cart_items WHERE session_sid = $1',
        values: [sessionKey],
      });
      return Number(rows[0]?.n ?? 0);
    },

    toJson(lines: CartLine[]) {
      return {
        items: lines.map((line) => ({ sku: line.product.sku, qty: line.qty })),
        count: lines.reduce((sum, line) => sum + line.qty, 0),
      };
    },
  };
}
