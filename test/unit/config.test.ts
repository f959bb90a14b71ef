import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('when the environment is empty', () => {
  it('then every setting has its documented default', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      dataDir: '.data',
      sessionTtlSeconds: 86400,
      role: 'all',
      logLevel: 'info',
    });
    expect(config.sessionRateLimit).toBe(60);
    expect(loadConfig({ SESSION_RATE_LIMIT: '0' }).sessionRateLimit).toBe(0);
    expect(config.databaseUrl).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });
});

describe('when a setting is bad', () => {
  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ SESSION_TTL_SECONDS: '0' }, 'SESSION_TTL_SECONDS'],
    [{ SESSION_TTL_SECONDS: '1.5' }, 'SESSION_TTL_SECONDS'],
    [{ SESSION_RATE_LIMIT: '-1' }, 'SESSION_RATE_LIMIT'],
    [{ SESSION_RATE_LIMIT: 'lots' }, 'SESSION_RATE_LIMIT'],
    [{ ROLE: 'both' }, 'ROLE'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ MONGODB_URL: 'http://x' }, 'MONGODB_URL'],
    [{ ALLOWED_ORIGINS: 'not a url' }, 'ALLOWED_ORIGINS'],
    [{ SESSION_SECRET: 'short' }, 'SESSION_SECRET'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ NODE_ENV: 'production' }, 'SESSION_SECRET'],
    [{ NODE_ENV: 'production', SESSION_SECRET: 'a-long-enough-secret-value' }, 'OPS_TOKEN'],
  ])('then %o stops the start with a message naming %s', (env, name) => {
    const problems = problemsOf(env);
    expect(problems.some((problem) => problem.startsWith(`${name}:`))).toBe(true);
  });

  it('then several secrets may be listed for rotation', () => {
    const config = loadConfig({ SESSION_SECRET: 'new-secret-0123456789, old-secret-0123456789' });
    expect(config.sessionSecrets).toEqual(['new-secret-0123456789', 'old-secret-0123456789']);
  });
});

describe('when METRICS_PORT is set', () => {
  it('then it is a port of its own, unset by default, and a bad one is named', () => {
    expect(loadConfig({}).metricsPort).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(problemsOf({ METRICS_PORT: 'ninety' })[0]).toMatch(/^METRICS_PORT: /);
    expect(problemsOf({ METRICS_PORT: '3000' })).toEqual(['METRICS_PORT: must differ from PORT (3000), which serves the site']);
    // A worker serves nothing on PORT.
    expect(loadConfig({ METRICS_PORT: '3000', ROLE: 'worker' }).metricsPort).toBe(3000);
  });
});
