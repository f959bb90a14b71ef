import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Which folder may import which. Code that runs in both the browser and the server lives in
 * common/ (and the wire types in protocol/); the server reaching into client/ for it would
 * compile browser code into the server build, and the browser importing zod would ship it in
 * the bundle.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));

async function sources(folder: string): Promise<string[]> {
  const entries = await readdir(path.join(root, folder), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Every module specifier a file imports or re-exports, static or dynamic. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) found.push(match[1]!);
  return found;
}

async function importsMatching(folders: string[], wrong: (specifier: string) => boolean): Promise<string[]> {
  const offenders: string[] = [];
  for (const folder of folders) {
    for (const file of await sources(folder)) {
      for (const specifier of specifiers(await readFile(file, 'utf8'))) {
        if (wrong(specifier)) offenders.push(`${path.relative(root, file)} imports ${specifier}`);
      }
    }
  }
  return offenders;
}

describe('import boundaries', () => {
  it('when server or job code needs code the browser runs too, then it imports it from common/, never from client/', async () => {
    const offenders = await importsMatching(
      ['server', 'jobs', 'common', 'protocol'],
      (s) => s.startsWith('../client') || s.includes('/client/'),
    );
    expect(offenders).toEqual([]);
  });

  it('when browser code is bundled, then it pulls in no zod and no server code', async () => {
    const offenders = await importsMatching(
      ['client', 'common'],
      (s) => s === 'zod' || s.startsWith('zod/') || s.includes('/server/') || s.includes('promotion-event-schema'),
    );
    expect(offenders).toEqual([]);
  });

  it('when the console imports the ops client, then the client takes only types from the zod schemas', async () => {
    const source = await readFile(path.join(root, 'protocol/ops-client.ts'), 'utf8');
    const valueImports = [...source.matchAll(/^import\s+(?!type\b)[^;]*from\s*['"]([^'"]+)['"]/gm)].map((match) => match[1] ?? '');
    expect(valueImports.filter((s) => s === 'zod' || s.includes('ops-api') || s.includes('ops-schemas'))).toEqual([]);
  });

  it('when common/ is imported by either side, then it depends on nothing but protocol/ types and itself', async () => {
    const offenders = await importsMatching(['common'], (s) => !s.startsWith('./') && s !== '../protocol/events.ts');
    expect(offenders).toEqual([]);
  });
});
