import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The built client (vite.config.ts) as the pages need it: which script and style URLs each
 * entry loads. Vite's manifest is read once, at start; the hashed files it names never change
 * under a running server, so they may be cached forever.
 */

/**
 * vite.config.ts builds with this `base` and `assetsDir`: the hashed files land in
 * `<distDir>/assets/` and the manifest names them `assets/<name>-<hash>.<ext>`, so their URL
 * is `ASSETS_BASE + file`, that is `/assets/<name>-<hash>.<ext>`.
 */
export const ASSETS_BASE = '/';
export const ASSETS_DIR = 'assets';

/** Where Vite writes its manifest, relative to the build's output directory. */
export const MANIFEST_PATH = '.vite/manifest.json';

/** The manifest key of each entry: its source path relative to Vite's root (`client/`). */
const entrySources = {
  visitor: 'visitor/main.ts',
  ops: 'ops/main.ts',
  widget: 'widget/main.ts',
} as const;

export type EntryName = keyof typeof entrySources;

/** What one page links: absolute URL paths, ready for `src` and `href`. */
export interface PageAssets {
  /** Module scripts: `<script type="module" src>`. */
  scripts: string[];
  /** Stylesheets: `<link rel="stylesheet" href>`. */
  styles: string[];
  /** Chunks the scripts import: `<link rel="modulepreload" href>`, so they load in parallel. */
  preloads?: string[];
}

export interface Assets {
  entry(name: EntryName): PageAssets;
}

interface ManifestChunk {
  file: string;
  css?: string[];
  imports?: string[];
  isEntry?: boolean;
}

type Manifest = Record<string, ManifestChunk>;

export class AssetsMissingError extends Error {
  readonly code = 'ASSETS_MISSING';
  constructor(
    readonly manifestPath: string,
    detail: string,
  ) {
    super(`The client build is missing or incomplete (${detail} at ${manifestPath}); run npm run build.`);
    this.name = 'AssetsMissingError';
  }
}

function readManifest(manifestPath: string): Manifest {
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AssetsMissingError(manifestPath, code === 'ENOENT' ? 'no manifest' : `manifest unreadable (${code})`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    return parsed as Manifest;
  } catch {
    throw new AssetsMissingError(manifestPath, 'manifest is not valid JSON');
  }
}

/** Styles and statically imported chunks of an entry, following imports, each once. */
function collect(manifest: Manifest, key: string, seen: Set<string>, into: { styles: string[]; preloads: string[] }): void {
  if (seen.has(key)) return;
  seen.add(key);
  const chunk = manifest[key];
  if (!chunk) return;
  for (const imported of chunk.imports ?? []) {
    const file = manifest[imported]?.file;
    if (file && !into.preloads.includes(file)) into.preloads.push(file);
    collect(manifest, imported, seen, into);
  }
  for (const css of chunk.css ?? []) if (!into.styles.includes(css)) into.styles.push(css);
}

/**
 * Reads `<distDir>/.vite/manifest.json` (distDir is the build's output, `dist/browser`) and
 * resolves both entries now, so a stale or partial build fails at start rather than on the
 * first page view.
 */
export function loadAssets(distDir: string): Assets {
  const manifestPath = path.join(distDir, MANIFEST_PATH);
  const manifest = readManifest(manifestPath);
  const url = (file: string) => ASSETS_BASE + file;
  const resolved = {} as Record<EntryName, Required<PageAssets>>;
  for (const [name, source] of Object.entries(entrySources) as [EntryName, string][]) {
    const chunk = manifest[source];
    if (!chunk?.file) throw new AssetsMissingError(manifestPath, `no entry for ${source}`);
    const found = { styles: [] as string[], preloads: [] as string[] };
    collect(manifest, source, new Set(), found);
    resolved[name] = { scripts: [url(chunk.file)], styles: found.styles.map(url), preloads: found.preloads.map(url) };
  }
  // Copies, so a caller that edits the lists cannot change what the next page gets.
  return Object.freeze({
    entry: (name: EntryName) => {
      const { scripts, styles, preloads } = resolved[name];
      return { scripts: [...scripts], styles: [...styles], preloads: [...preloads] };
    },
  });
}
