import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { secondsLeft } from '../../common/countdown.ts';
import { ConfigError, loadCliConfig } from '../config.ts';
import { createOpsClient, OpsApiError, type OpsClient } from '../../protocol/ops-client.ts';

/**
 * `npm run ops -- <command>`: the ops API from a terminal. It talks to a running flashcast
 * (FLASHCAST_URL, else http://HOST:PORT) with OPS_TOKEN, or in development with the token the
 * server generated in DATA_DIR; an operator's own token (operators create) works the same way
 * in OPS_TOKEN. Output is JSON, so scripts can read it; long work shows its progress on stderr.
 */

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

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number from 1 up');
  return n;
};

/** Shows "label… Ns" on stderr while `work` runs, when stderr is a terminal. */
async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const started = Date.now();
  const timer = setInterval(() => process.stderr.write(`\r${label}… ${Math.round((Date.now() - started) / 1000)}s`), 1000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stderr.write(`\r${label}: done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  }
}

export function buildCli(client: () => Promise<OpsClient>): Command {
  const program = new Command('ops').description('Operate a running flashcast through its ops API.').showHelpAfterError();

  program
    .command('presence')
    .description('active sessions and sockets now')
    .action(async () => print(await (await client()).get('/presence')));
  program
    .command('stats')
    .description('session totals')
    .action(async () => print(await (await client()).get('/sessions/stats')));

  program
    .command('flash')
    .description('write a flash into sessions and push it to their open tabs')
    .argument('<message>', 'the text visitors see')
    .option('--key <key>', 'the flash slot (notice, alert, or any short name)', 'notice')
    .option('--to <who>', 'active or all', 'active')
    .option('--session <key...>', 'session keys instead of --to')
    .action(async (message: string, opts: { key: string; to: string; session?: string[] }) => {
      const to = opts.session ? { sessions: opts.session } : opts.to;
      print(await (await client()).send('POST', '/flashes', { to, key: opts.key, message }));
    });

  const promotions = program.command('promotions').description('the promotions shown by promotion rounds');
  promotions.command('list').action(async () => print(await (await client()).get('/promotions')));
  promotions
    .command('create')
    .requiredOption('--name <name>')
    .requiredOption('--cta <text>', 'call to action: the banner text')
    .option('--url <url>', 'where the call to action links')
    .option('--inactive', 'create it switched off')
    .option('--starts <time>', 'ISO time it starts')
    .option('--ends <time>', 'ISO time it ends')
    .option('--weight <n>', 'relative chance of being picked', positiveInt)
    .action(
      async (opts: { name: string; cta: string; url?: string; inactive?: boolean; starts?: string; ends?: string; weight?: number }) => {
        print(
          await (await client()).send('POST', '/promotions', {
            name: opts.name,
            callToAction: opts.cta,
            active: !opts.inactive,
            ...(opts.url ? { url: opts.url } : {}),
            ...(opts.starts ? { startsAt: opts.starts } : {}),
            ...(opts.ends ? { endsAt: opts.ends } : {}),
            ...(opts.weight ? { weight: opts.weight } : {}),
          }),
        );
      },
    );
  promotions.command('show <id>').action(async (id: string) => print(await (await client()).get(`/promotions/${encodeURIComponent(id)}`)));
  promotions
    .command('stats <id>')
    .action(async (id: string) => print(await (await client()).get(`/promotions/${encodeURIComponent(id)}/stats`)));
  promotions
    .command('activate <id>')
    .action(async (id: string) => print(await (await client()).send('PATCH', `/promotions/${encodeURIComponent(id)}`, { active: true })));
  promotions
    .command('deactivate <id>')
    .action(async (id: string) => print(await (await client()).send('PATCH', `/promotions/${encodeURIComponent(id)}`, { active: false })));
  promotions
    .command('delete <id>')
    .action(async (id: string) => print(await (await client()).send('DELETE', `/promotions/${encodeURIComponent(id)}`)));

  const jobs = program.command('jobs').description('Agenda jobs: promotion-round, session-cleanup');
  jobs
    .command('list')
    .description('schedules with last and next runs')
    .action(async () => print(await (await client()).get('/jobs')));
  jobs
    .command('run <name>')
    .description('run a job now and wait for its result')
    .action(async (name: string) => {
      const api = await client();
      print(await withProgress(`running ${name}`, api.send('POST', `/jobs/${encodeURIComponent(name)}/run`)));
    });
  jobs
    .command('schedule <name> <every>')
    .description('repeat a job, e.g. "1 minute"')
    .action(async (name: string, every: string) =>
      print(await (await client()).send('PUT', `/jobs/${encodeURIComponent(name)}/schedule`, { every })),
    );
  jobs
    .command('unschedule <name>')
    .action(async (name: string) => print(await (await client()).send('DELETE', `/jobs/${encodeURIComponent(name)}/schedule`)));

  const maintenance = program.command('maintenance').description('the shutdown countdown and maintenance mode');
  maintenance.command('status').action(async () => print(await (await client()).get('/maintenance')));
  maintenance
    .command('start')
    .description('count down, then put the site into maintenance mode')
    .option('--seconds <n>', 'length of the countdown', positiveInt, 30)
    .option('--message <text>', 'what visitors read; {seconds} is replaced by the seconds left')
    .option('--follow', 'show the countdown until maintenance begins')
    .action(async (opts: { seconds: number; message?: string; follow?: boolean }) => {
      const api = await client();
      print(await api.send('POST', '/maintenance', { seconds: opts.seconds, ...(opts.message ? { message: opts.message } : {}) }));
      if (!opts.follow) return;
      for (;;) {
        const state = await api.get<{ state: string; deadline?: string }>('/maintenance');
        if (state.state !== 'countdown') {
          process.stderr.write(`\nmaintenance: ${state.state}\n`);
          return;
        }
        const left = secondsLeft(Date.parse(state.deadline ?? ''), Date.now());
        process.stderr.write(`\rshutting down in ${left}s `);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    });
  maintenance
    .command('end')
    .alias('cancel')
    .description('cancel a countdown, or end maintenance')
    .action(async () => print(await (await client()).send('DELETE', '/maintenance')));

  const operators = program
    .command('operators')
    .description('named operators, each with a token of its own (needs the administrator token, OPS_TOKEN)');
  operators
    .command('create <name>')
    .description('create an operator and print its token: shown this once, stored only as a hash')
    .option('--role <role>', 'viewer (reads) or operator (reads and writes)', 'viewer')
    .action(async (name: string, opts: { role: string }) => {
      const created = await (await client()).send<{ token: string }>('POST', '/operators', { name, role: opts.role });
      print(created);
      process.stderr.write('ops: keep this token now; flashcast stores only its hash and cannot show it again.\n');
    });
  operators
    .command('list')
    .description('operators, live first, with their roles')
    .action(async () => print(await (await client()).get('/operators')));
  operators
    .command('revoke <name>')
    .description('revoke an operator: its token stops working and its console sessions end')
    .action(async (name: string) => print(await (await client()).send('DELETE', `/operators/${encodeURIComponent(name)}`)));

  program
    .command('audit')
    .description('the audit trail, newest first: every ops write and every refused sign-in')
    .option('--actor <name>', 'only this operator ("admin" for OPS_TOKEN, "anonymous" for refusals)')
    .option('--action <action>', 'only this action, or a prefix ending in "." such as "promotion."')
    .option('--result <result>', 'ok, refused, invalid, failed or limited')
    .option('--target <target>', 'only entries about this target')
    .option('--since <time>', 'ISO time: entries from then on')
    .option('--until <time>', 'ISO time: entries before then')
    .option('--before <id>', 'page back: entries older than this id (the "next" of a page)', positiveInt)
    .option('--limit <n>', 'entries a page (at most 200)', positiveInt, 50)
    .action(async (opts: Record<string, string | number | undefined>) => {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(opts)) if (value !== undefined) query.set(name, String(value));
      print(await (await client()).get(`/audit?${query.toString()}`));
    });

  return program;
}

async function main(): Promise<void> {
  const program = buildCli(async () => {
    const config = loadCliConfig();
    const token = await resolveToken(config.opsToken, config.dataDir);
    return createOpsClient({ baseUrl: config.url, token: () => token });
  });
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof OpsApiError) process.stderr.write(`ops: ${error.code}: ${error.message}\n`);
    else if (error instanceof ConfigError) process.stderr.write(`ops: ${error.message}\n`);
    else throw error;
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
