/** The demo store's products. A fixed list: the store is the stage, flashes are the play. */
export interface Product {
  sku: string;
  name: string;
  priceCents: number;
  description: string;
}

export const products: readonly Product[] = Object.freeze([
  { sku: 'widget-classic', name: 'Classic Widget', priceCents: 1999, description: 'The widget that started it all.' },
  { sku: 'widget-pro', name: 'Widget Pro', priceCents: 4999, description: 'Twice the widget, half the fuss.' },
  { sku: 'gadget-mini', name: 'Mini Gadget', priceCents: 1299, description: 'Fits in a pocket, or a drawer.' },
  { sku: 'gizmo-deluxe', name: 'Deluxe Gizmo', priceCents: 8999, description: 'For the gizmo connoisseur.' },
  { sku: 'doohickey', name: 'Doohickey', priceCents: 599, description: 'You will know when you need it.' },
  { sku: 'thingamajig', name: 'Thingamajig', priceCents: 2499, description: 'Ask no questions.' },
]);

const bySku = new Map(products.map((product) => [product.sku, product]));

export function findProduct(sku: string): Product | undefined {
  return bySku.get(sku);
}
