// What test/support/global-setup.ts hands to every test file through vitest's provide/inject.
declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres:// URL of the `flashcast` database on the run's one embedded PostgreSQL. */
    databaseUrl: string;
  }
}

export {};
