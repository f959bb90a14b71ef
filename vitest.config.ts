import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One embedded PostgreSQL per run; test files inject('databaseUrl').
    globalSetup: ['test/support/global-setup.ts'],
    // Each file in its own child process: native handles (pg, Chromium) and process-wide
    // listeners stay isolated.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
