import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface DevSecrets {
  sessionSecret: string;
  opsToken: string;
}

/**
 * Development only: SESSION_SECRET and OPS_TOKEN generated once and kept in DATA_DIR
 * (mode 0600), so sessions and the ops token survive restarts without any setup.
 * Production requires both settings (config.ts refuses to start without them).
 */
export async function loadDevSecrets(dataDir: string): Promise<DevSecrets> {
  const file = path.join(dataDir, 'dev-secrets.json');
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<DevSecrets>;
    if (typeof parsed.sessionSecret === 'string' && typeof parsed.opsToken === 'string') {
      return { sessionSecret: parsed.sessionSecret, opsToken: parsed.opsToken };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`Cannot read ${file} (${(error as Error).message}); delete it to generate new development secrets.`);
    }
  }
  const secrets: DevSecrets = {
    sessionSecret: randomBytes(32).toString('base64url'),
    opsToken: randomBytes(24).toString('base64url'),
  };
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  // Written aside, then linked into place: link() fails if the file exists, so of two
  // processes starting together on a new DATA_DIR (a web process and a worker) one writes
  // the secrets and the other reads them, never half a file, and both sign with the same one.
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(aside, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  try {
    await link(aside, file);
    return secrets;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return loadDevSecrets(dataDir);
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}
