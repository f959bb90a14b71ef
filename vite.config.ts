import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { browserBuildDir } from './server/project-paths.ts';
import { ASSETS_BASE, ASSETS_DIR } from './server/web/assets.ts';

/**
 * The client build: two entries, no HTML of Vite's own (the server renders every page and
 * links the hashed files through the manifest, see server/web/assets.ts).
 *
 *   client/visitor/main.ts  store pages' script and the banner widget
 *   client/ops/main.ts      the ops console
 *   client/widget/main.ts   the banner widget for any site (one script tag, /flashcast/widget.js)
 *
 * Output: dist/browser/assets/<name>-<hash>.js|css, served by the server at /assets/ (the
 * folder only: the manifest, dist/browser/.vite/manifest.json, stays unserved). dist/browser,
 * not dist/client: the compiled server (tsconfig.build.json) keeps the source tree's layout
 * under dist/, and dist/common/ holds the code it shares with the browser (common/).
 */
const fromHere = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export default defineConfig({
  root: fromHere('./client'),
  base: ASSETS_BASE,
  publicDir: false,
  build: {
    outDir: browserBuildDir,
    emptyOutDir: true,
    // URL of a built file = base + its manifest `file` ("assets/visitor-<hash>.js").
    assetsDir: ASSETS_DIR,
    manifest: true,
    target: 'es2022',
    // No source maps: everything under dist/browser/assets is served publicly, and a map would
    // publish the full client source. To debug a build locally: `npx vite build --sourcemap`.
    sourcemap: false,
    rolldownOptions: {
      input: {
        visitor: fromHere('./client/visitor/main.ts'),
        ops: fromHere('./client/ops/main.ts'),
        // The banner widget for any site, loaded by GET /flashcast/widget.js (server/web/widget-routes.ts).
        widget: fromHere('./client/widget/main.ts'),
      },
    },
  },
});
