import express, { Router } from 'express';
import path from 'node:path';
import type { PageAssets } from './assets.ts';

/** Where the widget is served; the script tag a site adds is `<script src="/flashcast/widget.js" defer>`. */
export const WIDGET_PATH = '/flashcast';

/**
 * The widget for any site, in one script tag and no build step for the host:
 *
 *   GET /flashcast/widget.js      a small classic script that loads the built widget (its
 *                                 hashed module and stylesheet) relative to its own URL
 *   GET /flashcast/assets/...     the built files, cached for a year (their names change with them)
 *
 * The loader is short-lived in caches (it names the current build); the files it loads are
 * immutable. Everything is under /flashcast, so a host's own /assets stays its own.
 */
export function createWidgetRoutes(deps: { clientDir: string; assets: () => PageAssets }): Router {
  const router = Router();
  router.use(
    `${WIDGET_PATH}/assets`,
    express.static(path.join(deps.clientDir, 'assets'), { immutable: true, maxAge: '1y', index: false, fallthrough: false }),
  );
  router.get(`${WIDGET_PATH}/widget.js`, (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript').send(loaderScript(deps.assets()));
  });
  return router;
}

/** `/assets/x.js` as a path relative to /flashcast/widget.js: `assets/x.js`. */
const relative = (url: string): string => url.replace(/^\/+/, '');

/**
 * A classic script (what people paste; no `type="module"` needed): marks its own tag, whose
 * `data-*` attributes the widget reads, links the stylesheets and imports the module, all
 * resolved against its own URL.
 */
export function loaderScript(entry: PageAssets): string {
  const files = { styles: entry.styles.map(relative), script: relative(entry.scripts[0] ?? '') };
  return `/* flashcast widget loader */
(function () {
  var tag = document.currentScript;
  if (!tag || tag.hasAttribute('data-flashcast-widget')) return;
  tag.setAttribute('data-flashcast-widget', '');
  var files = ${JSON.stringify(files)};
  var base = tag.src;
  files.styles.forEach(function (file) {
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = new URL(file, base).href;
    document.head.appendChild(link);
  });
  function start() { import(new URL(files.script, base).href); }
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
`;
}
