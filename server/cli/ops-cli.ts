import { Command, InvalidArgumentError, Option } from 'commander';
import { secondsLeft } from '../../common/countdown.ts';
import type { OpsClient } from '../../protocol/ops-client.ts';
import { describeError, EXIT_CODES_HELP, exitCodeFor, NothingReachedError } from './exit-codes.ts';
import { type Column, listView, outputMode, render, type View } from './output.ts';

/**
 * `npm run ops -- <command>`, or `node dist/server/cli/ops-cli.js <command>` after the build:
 * the ops API from a terminal. Tables for a person at a terminal, JSON for scripts (the
 * default when stdout is not a terminal, so scripts written for the JSON-only CLI keep
 * working); an exit code per kind of failure (exit-codes.ts). Long work shows its progress on
 * stderr. Start-up stays light: the config (zod) and the client are loaded by the first
 * command that talks to the server, never for --help or a usage error.
 */

const SERVER_HELP = `Server:
  FLASHCAST_URL  where flashcast runs; unset: http://HOST:PORT (HOST 127.0.0.1, PORT 3000)
  OPS_TOKEN      the administrator's token (the server's OPS_TOKEN) or an operator's
                 (ops operators create); unset: the development token the server wrote in
                 DATA_DIR/dev-secrets.json (DATA_DIR default .data)

Output:
  A table when stdout is a terminal, else the API's JSON (as scripts expect);
  --json or --table chooses either way. Warnings and progress go to stderr.`;

const EXAMPLES = `Examples:
  FLASHCAST_URL=https://shop.example OPS_TOKEN=… npm run ops -- presence
  npm run ops -- flash "Back in 5 minutes" --to all --key alert
  npm run ops -- promotions create --name spring --cta "20% off today"
  npm run ops -- jobs run promotion-round
  npm run ops -- maintenance start --seconds 60 --follow`;

/** Under every command's own help: where the server and the codes are explained. */
const COMMAND_FOOTER = '\nServer: FLASHCAST_URL and OPS_TOKEN (see `ops --help`, which also lists the exit codes).';

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

const PROMOTION_COLUMNS: Column[] = [
  ['id', 'ID'],
  ['name', 'NAME'],
  ['active', 'ACTIVE'],
  ['weight', 'WEIGHT'],
  ['startsAt', 'STARTS'],
  ['endsAt', 'ENDS'],
  ['callToAction', 'CALL TO ACTION'],
];
const JOB_COLUMNS: Column[] = [
  ['name', 'NAME'],
  ['every', 'EVERY'],
  ['running', 'RUNNING'],
  ['nextRunAt', 'NEXT RUN'],
  ['lastFinishedAt', 'LAST FINISHED'],
  ['failReason', 'LAST FAILURE'],
  ['lastResult', 'LAST RESULT'],
];
const OPERATOR_COLUMNS: Column[] = [
  ['name', 'NAME'],
  ['role', 'ROLE'],
  ['createdBy', 'CREATED BY'],
  ['createdAt', 'CREATED'],
  ['revokedAt', 'REVOKED'],
];
const AUDIT_COLUMNS: Column[] = [
  ['id', 'ID'],
  ['at', 'AT'],
  ['actor', 'ACTOR'],
  ['action', 'ACTION'],
  ['target', 'TARGET'],
  ['result', 'RESULT'],
  ['params', 'PARAMS'],
];

export interface CliOptions {
  /** Whether stdout is a terminal: tables by default when it is. */
  stdoutIsTTY?: boolean;
  write?: (text: string) => void;
}

export function buildCli(client: () => Promise<OpsClient>, options: CliOptions = {}): Command {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const program = new Command('ops')
    .description('Operate a running flashcast through its ops API.')
    .addOption(new Option('--json', 'print the API answer as JSON (the default when stdout is not a terminal)').conflicts('table'))
    .addOption(new Option('--table', 'print tables (the default when stdout is a terminal)'))
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(ops --help lists the commands, the settings and the exit codes)')
    // Usage errors throw instead of exiting 1, so main() can exit 2 (exit-codes.ts).
    .exitOverride()
    .addHelpText('after', `\n${SERVER_HELP}\n\n${EXIT_CODES_HELP}\n\n${EXAMPLES}`);

  const print = (answer: unknown, view?: View) =>
    write(
      render(
        outputMode(program.opts<{ json?: boolean; table?: boolean }>(), options.stdoutIsTTY ?? Boolean(process.stdout.isTTY)),
        answer,
        view,
      ),
    );
  const get = async (path: string, view?: View) => print(await (await client()).get(path), view);
  const send = async (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, view?: View) =>
    print(await (await client()).send(method, path, body), view);
  const id = encodeURIComponent;

  program
    .command('presence')
    .description('active sessions and open sockets now')
    .action(() => get('/presence'));
  program
    .command('stats')
    .description('session totals: all, expired, active, and carts')
    .action(() => get('/sessions/stats'));

  program
    .command('flash')
    .description('write a flash into sessions and push it to their open tabs; exits 7, with a warning, when it reached none')
    .argument('<message>', 'the text visitors see')
    .option('--key <key>', 'the flash slot (notice, alert, or any short name)', 'notice')
    .option('--to <who>', 'active (sessions seen lately) or all', 'active')
    .option('--session <key...>', 'session keys instead of --to')
    .action(async (message: string, opts: { key: string; to: string; session?: string[] }) => {
      const to = opts.session ? { sessions: opts.session } : opts.to;
      const written = await (await client()).send<{ sessions?: number }>('POST', '/flashes', { to, key: opts.key, message });
      print(written);
      if (written?.sessions === 0) {
        const whom = opts.session ? `none of the ${opts.session.length} session key(s) given is a live session` : `no ${opts.to} session`;
        throw new NothingReachedError(`the flash reached no session: ${whom}`);
      }
    });

  const promotions = program.command('promotions').description('the promotions shown by promotion rounds');
  promotions
    .command('list')
    .description('every promotion, with its schedule and weight')
    .action(() => get('/promotions', listView('promotions', PROMOTION_COLUMNS, 'no promotions')));
  promotions
    .command('create')
    .description('create a promotion (active unless --inactive)')
    .requiredOption('--name <name>', 'a name for ops; visitors never see it')
    .requiredOption('--cta <text>', 'call to action: the banner text')
    .option('--url <url>', 'where the call to action links')
    .option('--inactive', 'create it switched off')
    .option('--starts <time>', 'ISO time it starts')
    .option('--ends <time>', 'ISO time it ends')
    .option('--weight <n>', 'relative chance of being picked', positiveInt)
    .action((opts: { name: string; cta: string; url?: string; inactive?: boolean; starts?: string; ends?: string; weight?: number }) =>
      send('POST', '/promotions', {
        name: opts.name,
        callToAction: opts.cta,
        active: !opts.inactive,
        ...(opts.url ? { url: opts.url } : {}),
        ...(opts.starts ? { startsAt: opts.starts } : {}),
        ...(opts.ends ? { endsAt: opts.ends } : {}),
        ...(opts.weight ? { weight: opts.weight } : {}),
      }),
    );
  promotions
    .command('show')
    .description('one promotion')
    .argument('<id>', 'the promotion id (promotions list)')
    .action((promotion: string) => get(`/promotions/${id(promotion)}`));
  promotions
    .command('stats')
    .description("a promotion's funnel: delivered, displayed, clicked, dismissed")
    .argument('<id>', 'the promotion id')
    .action((promotion: string) => get(`/promotions/${id(promotion)}/stats`));
  promotions
    .command('activate')
    .description('switch a promotion on: rounds may pick it')
    .argument('<id>', 'the promotion id')
    .action((promotion: string) => send('PATCH', `/promotions/${id(promotion)}`, { active: true }));
  promotions
    .command('deactivate')
    .description('switch a promotion off: rounds no longer pick it')
    .argument('<id>', 'the promotion id')
    .action((promotion: string) => send('PATCH', `/promotions/${id(promotion)}`, { active: false }));
  promotions
    .command('delete')
    .description('delete a promotion')
    .argument('<id>', 'the promotion id')
    .action((promotion: string) => send('DELETE', `/promotions/${id(promotion)}`));

  const jobs = program.command('jobs').description('Agenda jobs: promotion-round, session-cleanup');
  jobs
    .command('list')
    .description('schedules with last and next runs, and the last result')
    .action(() => get('/jobs', listView('jobs', JOB_COLUMNS, 'no jobs')));
  jobs
    .command('run')
    .description('run a job now and wait for its result')
    .argument('<name>', 'promotion-round or session-cleanup')
    .action(async (name: string) => {
      const api = await client();
      print(await withProgress(`running ${name}`, api.send('POST', `/jobs/${id(name)}/run`)));
    });
  jobs
    .command('schedule')
    .description('repeat a job')
    .argument('<name>', 'promotion-round or session-cleanup')
    .argument('<every>', 'an interval such as "1 minute", or a cron expression')
    .action((name: string, every: string) => send('PUT', `/jobs/${id(name)}/schedule`, { every }));
  jobs
    .command('unschedule')
    .description("stop repeating a job (it still runs with 'jobs run')")
    .argument('<name>', 'promotion-round or session-cleanup')
    .action((name: string) => send('DELETE', `/jobs/${id(name)}/schedule`));

  const maintenance = program.command('maintenance').description('the shutdown countdown and maintenance mode');
  maintenance
    .command('status')
    .description('idle, scheduled, countdown or active, with the deadline')
    .action(() => get('/maintenance'));
  maintenance
    .command('start')
    .description('count down, then put the site into maintenance mode; exits 6 if one is already under way')
    .option('--seconds <n>', 'length of the countdown', positiveInt, 30)
    .option('--message <text>', 'what visitors read; {seconds} is replaced by the seconds left')
    .option('--follow', 'show the countdown on stderr until maintenance begins')
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
    .action(() => send('DELETE', '/maintenance'));

  const operators = program
    .command('operators')
    .description('named operators, each with a token of its own (needs the administrator token, OPS_TOKEN)');
  operators
    .command('create')
    .description('create an operator and print its token: shown this once, stored only as a hash')
    .argument('<name>', 'lower-case letters, digits, ".", "_", "-"')
    .option('--role <role>', 'viewer (reads) or operator (reads and writes)', 'viewer')
    .action(async (name: string, opts: { role: string }) => {
      print(await (await client()).send('POST', '/operators', { name, role: opts.role }));
      process.stderr.write('ops: keep this token now; flashcast stores only its hash and cannot show it again.\n');
    });
  operators
    .command('list')
    .description('operators, live first, with their roles')
    .action(() => get('/operators', listView('operators', OPERATOR_COLUMNS, 'no operators')));
  operators
    .command('revoke')
    .description('revoke an operator: its token stops working and its console sessions end')
    .argument('<name>', 'the operator')
    .action((name: string) => send('DELETE', `/operators/${id(name)}`));

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
    .action((opts: Record<string, string | number | undefined>) => {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(opts)) if (value !== undefined) query.set(name, String(value));
      return get(`/audit?${query.toString()}`, listView('entries', AUDIT_COLUMNS, 'no entries'));
    });

  const addFooter = (command: Command) => {
    for (const sub of command.commands) {
      sub.addHelpText('after', COMMAND_FOOTER);
      addFooter(sub);
    }
  };
  addFooter(program);
  return program;
}

async function main(): Promise<void> {
  // `ops audit | head` closes the pipe early: that is the reader's choice, not a crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
  const program = buildCli(async () => (await import('./connect.ts')).connect());
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    process.stderr.write(describeError(error));
    process.exitCode = exitCodeFor(error);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
