import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createOpsClient, type OpsClient } from '../../protocol/ops-client.ts';
import { ConfigError, loadCliConfig } from '../config.ts';

/**
 * The ops client for the CLI, from the environment: FLASHCAST_URL (else http://HOST:PORT) and
 * OPS_TOKEN (else the development token the server wrote in DATA_DIR). Loaded only when a
 * command talks to the server, so `--help` and usage errors never pay for zod.
 */
export async function connect(): Promise<OpsClient> {
  const config = loadCliConfig();
  const token = await resolveToken(config.opsToken, config.dataDir);
  return createOpsClient({ baseUrl: config.url, token: () => token });
}

async function resolveToken(opsToken: string | undefined, dataDir: string): Promise<string> {
  if (opsToken) return opsToken;
  const file = path.join(dataDir, 'dev-secrets.json');
  try {
    const { opsToken: token } = JSON.parse(await readFile(file, 'utf8')) as { opsToken?: string };
    if (token) return token;
  } catch {
    // fall through to the message below
  }
  throw new ConfigError([`OPS_TOKEN: not set, and no development token in ${file}; set OPS_TOKEN to the server's token`]);
}
