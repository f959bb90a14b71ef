import { describe, expect, it } from 'vitest';
import { describeStartupFailure } from '../../server/startup-failure.ts';

const config = { databaseUrl: 'postgres://app:s3cret@db.internal:5432/shop', port: 3000, metricsPort: 9464, host: '0.0.0.0' };
const failure = (message: string, fields: object = {}) => Object.assign(new Error(message), fields);

describe('when the start fails', () => {
  it('then one sentence says what to do, and never shows the password', () => {
    const cases: Array<[Error, RegExp]> = [
      [
        failure('connect ECONNREFUSED 10.0.0.5:5432', { code: 'ECONNREFUSED' }),
        /^Could not reach PostgreSQL at db\.internal:5432\/shop .*check DATABASE_URL/,
      ],
      [failure('password authentication failed for user "app"', { code: '28P01' }), /refused the user name or password in DATABASE_URL/],
      [failure('database "shop" does not exist', { code: '3D000' }), /does not exist .*create it/],
      [
        failure('listen EADDRINUSE: address already in use 0.0.0.0:3000', { code: 'EADDRINUSE', port: 3000 }),
        /^Port 3000 .* set PORT to a free port\.$/,
      ],
      [failure('listen EADDRINUSE', { code: 'EADDRINUSE', port: 9464 }), /set METRICS_PORT to a free port\.$/],
      [
        failure('MONGODB_URL is set but the optional packages are not installed: install them.\n    at x'),
        /^MONGODB_URL is set .*install them \(LOG_LEVEL=debug shows the details\)\.$/,
      ],
    ];
    for (const [error, sentence] of cases) {
      const said = describeStartupFailure(error, config);
      expect(said).toMatch(sentence);
      expect(said).not.toContain('s3cret');
      expect(said).not.toContain('\n');
    }
  });
});
