import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
  await writeFile(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}
