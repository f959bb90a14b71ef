import os from 'node:os';
import { createPool } from '../server/db/pool.ts';
import { percentile, type BenchContext, type BenchResult, type Goal, type Table } from './harness.ts';
import {
  checkFileLimit,
  now,
  seedSessions,
  sleep,
  startClientsProcess,
  startServerProcess,
  waitForPresence,
  type PushTiming,
} from './socket-client.ts';

/**
 * One push to every active visitor (N = 1,000 and 5,000 websocket clients, each with a
 * session of its own), against a bare Socket.IO server's `io.emit` to as many clients, in the
 * same run: our server and the bare one live in one server process, the clients in another,
 * and their rounds alternate, so background load hits both alike.
 *
 * Ours is the real push: `push.flash('active', …)` writes the flash into every active
 * session (one INSERT … SELECT over presence) and then makes its one emit to the visitors
 * room. Each client's arrival is timed from just before the push call ("write + emit") and
 * from just before its emit ("emit only"); the goal compares the emit, the part that is
 * delivery, with the bare broadcast (which has no write).
 */

export const name = 'socket-fanout';

const SIZES = [1_000, 5_000];
const ROUNDS = 7;
const COLLECT_TIMEOUT_MS = 15_000;
const MAX_RATIO = 1.5;
const CONNECT_BATCH = 500;

interface Stats {
  p50: number;
  p99: number;
  max: number;
}

const stats = (values: number[]): Stats => ({ p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100) });
const median = (values: number[]): number => percentile(values, 50);
const round1 = (value: number): number => Math.round(value * 10) / 10;

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger });
  const biggest = Math.max(...SIZES);
  const cookies = await seedSessions(pool, biggest);
  const server = await startServerProcess();
  const clients = await startClientsProcess();
  try {
    checkFileLimit(server, 2 * biggest, 'server');
    checkFileLimit(clients, 2 * biggest, 'clients');
    const { url, bareUrl } = await server.call('start', { databaseUrl: ctx.databaseUrl, ours: true, bare: true });
    if (!url || !bareUrl) throw new Error('the server process did not start both servers');

    const tables: Table[] = [];
    const goals: Goal[] = [];
    const notes: string[] = [];
    const summary: Table = {
      title: `Fan-out, median over ${ROUNDS} rounds of each round's figure (ms from just before the call to each client's receipt)`,
      columns: ['clients', 'what', 'p50', 'p99', 'max', 'p99 range over rounds', 'p99 vs bare'],
      rows: [],
    };

    for (const size of SIZES) {
      // In batches, one server after the other: this measures delivery, not a connect storm.
      for (const opened of [
        await clients.call('open', { group: 'ours', url, cookies: cookies.slice(0, size), batch: CONNECT_BATCH }),
        await clients.call('open', { group: 'bare', url: bareUrl, count: size, batch: CONNECT_BATCH }),
      ]) {
        if (opened.failed > 0) throw new Error(`${opened.failed} of ${size} sockets failed to connect: ${opened.errors.join('; ')}`);
      }
      // "All active" is what presence says: wait until it has every one of them.
      await waitForPresence(url, (counts) => counts.sockets === size && counts.activeSessions === size);
      await sleep(500);

      const bare: Stats[] = [];
      const emitOnly: Stats[] = [];
      const writeEmit: Stats[] = [];
      const writeMs: number[] = [];
      const emitCallMs: number[] = [];
      const bareEmitCallMs: number[] = [];
      let missing = 0;
      const cpuBefore = await clients.call('cpu');
      const started = now();

      const bareRound = async (): Promise<number[]> => {
        await clients.call('reset', { group: 'bare' });
        const timing = await server.call('bareEmit', { message: 'Free shipping on every order today' });
        const got = await clients.call('collect', { group: 'bare', timeoutMs: COLLECT_TIMEOUT_MS });
        missing += got.missing;
        bareEmitCallMs.push(timing.tEmitted - timing.t0);
        return got.arrivals.map((t) => t - timing.t0);
      };
      const oursRound = async (): Promise<{ timing: PushTiming; arrivals: number[] }> => {
        await clients.call('reset', { group: 'ours' });
        const timing = await server.call('push', { message: 'Free shipping on every order today' });
        if (timing.sessions !== size) throw new Error(`the push reached ${timing.sessions} sessions, not ${size}`);
        const got = await clients.call('collect', { group: 'ours', timeoutMs: COLLECT_TIMEOUT_MS });
        missing += got.missing;
        return { timing, arrivals: got.arrivals };
      };

      // One unmeasured round each: the code paths are compiled before they are timed.
      await bareRound();
      await oursRound();
      for (let round = 0; round < ROUNDS; round++) {
        // Alternating which goes first, so neither always follows the other's garbage.
        const order = round % 2 === 0 ? ['bare', 'ours'] : ['ours', 'bare'];
        for (const which of order) {
          await sleep(200);
          if (which === 'bare') {
            bare.push(stats(await bareRound()));
          } else {
            const { timing, arrivals } = await oursRound();
            writeEmit.push(stats(arrivals.map((t) => t - timing.t0)));
            emitOnly.push(stats(arrivals.map((t) => t - timing.tEmit)));
            writeMs.push(timing.tEmit - timing.t0);
            emitCallMs.push(timing.tEmitted - timing.tEmit);
          }
        }
      }
      const clientCpuMs = (await clients.call('cpu')) - cpuBefore;
      const wallMs = now() - started;

      const bareP99 = median(bare.map((s) => s.p99));
      const row = (what: string, series: Stats[]): Array<string | number> => {
        const p99s = series.map((s) => s.p99);
        return [
          size,
          what,
          round1(median(series.map((s) => s.p50))),
          round1(median(p99s)),
          round1(median(series.map((s) => s.max))),
          `${round1(Math.min(...p99s))}–${round1(Math.max(...p99s))}`,
          what === 'bare io.emit' ? '1' : `${(median(p99s) / bareP99).toFixed(2)}×`,
        ];
      };
      summary.rows.push(row('bare io.emit', bare), row('ours, emit only', emitOnly), row('ours, write + emit', writeEmit));

      const oursP99 = median(emitOnly.map((s) => s.p99));
      goals.push({
        name: `fan-out p99 to ${size.toLocaleString('en-US')} clients, our push's emit`,
        measured: round1(oursP99),
        unit: 'ms',
        baseline: { name: 'bare io.emit p99', value: round1(bareP99) },
        ratio: Number((oursP99 / bareP99).toFixed(3)),
        target: `≤ ${MAX_RATIO}× bare io.emit p99`,
        pass: oursP99 <= MAX_RATIO * bareP99,
      });
      goals.push({
        name: `clients of ${size.toLocaleString('en-US')} that missed a flash`,
        measured: missing,
        unit: 'clients',
        target: '= 0 clients',
        pass: missing === 0,
      });
      tables.push({
        title: `${size.toLocaleString('en-US')} clients: the parts of our push (median over ${ROUNDS} rounds, ms)`,
        columns: [
          'write (INSERT … SELECT over presence)',
          'emit call (server loop over sockets)',
          'bare io.emit call',
          'client-process CPU / wall during rounds',
        ],
        rows: [
          [
            `${round1(median(writeMs))} (${round1(Math.min(...writeMs))}–${round1(Math.max(...writeMs))})`,
            round1(median(emitCallMs)),
            round1(median(bareEmitCallMs)),
            `${Math.round(clientCpuMs)} / ${Math.round(wallMs)}`,
          ],
        ],
      });

      await Promise.all([clients.call('close', { group: 'ours' }), clients.call('close', { group: 'bare' })]);
      await waitForPresence(url, (counts) => counts.sockets === 0);
    }

    tables.unshift(summary);
    notes.push(
      `Clients: socket.io-client 4.8 over websocket only, all in one process separate from the server process (bare and ours share that server process, on two ports, wired as server/system.ts wires ROLE=web); each of ours carries its own session cookie (sessions inserted in bulk by SQL), every handshake goes through the real session check (server/realtime/handshake-sessions.ts), and the push waits until GET /ops/api/presence shows all N. Sockets connect ${CONNECT_BATCH} at a time (this is not the connect storm).`,
      `Timing: CLOCK_MONOTONIC, shared by the processes; "bare" from just before io.emit; "ours, write + emit" from just before push.flash('active'); "ours, emit only" from just before the push's one emit to the visitors room (after its write). The goal compares "emit only" with bare because that is the delivery both do; the write is the durability a bare broadcast does not have, shown apart so its cost is visible.`,
      `Each round is one push (or one io.emit) to all N; rounds alternate bare/ours after one unmeasured round each; figures are the median over ${ROUNDS} rounds, with the p99 range.`,
      `Contention: ${ctx.machine.cores} cores shared by PostgreSQL, the server process, the client process and the bench runner (load average ${ctx.machine.loadAverage} at start, ${os.loadavg()[0]!.toFixed(1)} at the end). The spread of receipts within a round is mostly the client process reading N websocket frames one after another on one core, for bare and ours alike.`,
    );
    return { goals, tables, notes };
  } finally {
    await server.call('stop').catch(() => null);
    await Promise.all([server.stop(), clients.stop()]);
    await pool.end();
  }
}
