import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { ASSETS_BASE, ASSETS_DIR } from './server/web/assets.ts';

/**
 * The client build: two entries, no HTML of Vite's own (the server renders every page and
 * links the hashed files through the manifest, see server/web/assets.ts).
 *
 *   client/visitor/main.ts  store pages' script and the banner widget
 *   client/ops/main.ts      the ops console
 *
 * Output: dist/client/assets/<name>-<hash>.js|css, served by the server at /assets/ (the
 * folder only: the manifest, dist/client/.vite/manifest.json, stays unserved).
 */
const fromHere = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export default defineConfig({
  root: fromHere('./client'),
  base: ASSETS_BASE,
  publicDir: false,
  build: {
    outDir: fromHere('./dist/client'),
    emptyOutDir: true,
    // URL of a built file = base + its manifest `file` ("assets/visitor-<hash>.js").
    assetsDir: ASSETS_DIR,
    manifest: true,
    target: 'es2022',
    sourcemap: true,
    rolldownOptions: {
      input: {
        visitor: fromHere('./client/visitor/main.ts'),
        ops: fromHere('./client/ops/main.ts'),
      },
    },
  },
});
