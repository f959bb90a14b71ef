import { fileURLToPath } from 'node:url';

/**
 * Where the files read at run time are, whether this code runs from the source tree
 * (`server/project-paths.ts` through tsx, in development and tests) or compiled
 * (`dist/server/project-paths.js`, the production start). Both resolve to the same folders
 * of the project: `migrations/` beside `dist/`, and the browser build in `dist/browser`.
 */
const compiled = import.meta.url.endsWith('.js');
const projectRoot = new URL(compiled ? '../../' : '../', import.meta.url);

/** The SQL migrations, read (never compiled) at start. */
export const migrationsDir = fileURLToPath(new URL('migrations', projectRoot));

/** Vite's output (vite.config.ts): the hashed files under assets/ and the manifest. */
export const browserBuildDir = fileURLToPath(new URL('dist/browser', projectRoot));
