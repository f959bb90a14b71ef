import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import type { ClientToServerEvents, MaintenanceEvent, ServerToClientEvents } from '../protocol/events.ts';
import { createApp } from '../server/app.ts';
import { createFlashcast } from '../server/flashcast.ts';
import { VISITORS_ROOM } from '../server/realtime/rooms.ts';
import { SESSION_COOKIE } from '../server/http/session-middleware.ts';
import { clientDistDir } from '../server/system.ts';
import { loadAssets } from '../server/web/assets.ts';
import { equals, formatNumber, percentile, type BenchContext, type BenchResult, type Goal } from './harness.ts';

/**
 * A 10-second maintenance countdown to 1,000 connected Socket.IO clients, on the app as
 * ROLE=all runs it: the real express app with the maintenance gate and ops API, the real
 * socket server, the countdown job on an Agenda in the same process. The clients live in
 * child processes (their JavaScript must not share the server's event loop) and note when
 * each `maintenance` event arrives; each tick is compared with its ideal time, deadline − k s.
 */

export const name = 'maintenance-countdown';

const CLIENTS = 1000;
const CLIENT_PROCESSES = 4;
const COUNTDOWN_SECONDS = 10;
/** Countdown and floor alternate this many times; the goal takes the median round. */
const ROUNDS = 5;
const GOAL_P99_MS = 50;
const TTL_SECONDS = 86_400;
const SECRET = 'bench-secret-not-for-production';
const OPS_TOKEN = 'bench-ops-token-0123456789';

// --- the clients (a child process) -------------------------------------------------------------

/** One `maintenance` event as a client saw it. */
type Arrival = [
  client: number,
  state: MaintenanceEvent['state'],
  secondsLeft: number,
  arrivedAt: number,
  serverTime: number,
  deadline: number,
];

type ToClients = { start: { url: string; count: number; offset: number } } | { collect: true };
type FromClients = { connected: number } | { arrivals: Arrival[] } | { error: string };

/** Wall-clock time with sub-millisecond resolution (the same clock as Date.now()). */
const preciseNow = () => performance.timeOrigin + performance.now();

async function runClients(url: string, count: number, offset: number): Promise<void> {
  const cookies: string[] = [];
  // First page views, 50 at a time: each gives a new visitor a session and its cookie.
  for (let start = 0; start < count; start += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - start) }, async () => {
        const response = await fetch(`${url}/`);
        await response.arrayBuffer();
        const cookie = response.headers.getSetCookie().find((line) => line.startsWith(`${SESSION_COOKIE}=`));
        if (!cookie) throw new Error(`GET / answered ${response.status} without a session cookie`);
        return cookie.split(';')[0]!;
      }),
    );
    cookies.push(...batch);
  }
  const arrivals: Arrival[] = [];
  const sockets: Array<ClientSocket<ServerToClientEvents, ClientToServerEvents>> = [];
  await Promise.all(
    cookies.map(
      (cookie, index) =>
        new Promise<void>((resolve, reject) => {
          const socket: ClientSocket<ServerToClientEvents, ClientToServerEvents> = connect(url, {
            forceNew: true,
            transports: ['websocket'],
            reconnection: false,
            extraHeaders: { cookie, origin: url },
          });
          socket.on('maintenance', (event) => {
            arrivals.push([
              offset + index,
              event.state,
              event.secondsLeft ?? -1,
              preciseNow(),
              event.serverTime,
              Date.parse(event.deadline ?? ''),
            ]);
          });
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
          sockets.push(socket);
        }),
    ),
  );
  process.send!({ connected: sockets.length } satisfies FromClients);
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  for (const socket of sockets) socket.disconnect();
  // The parent ends this process once it has the arrivals (an exit of our own could overtake them).
  process.send!({ arrivals } satisfies FromClients);
}

const isChild = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isChild && process.send) {
  process.once('disconnect', () => process.exit(0));
  process.once('message', (message: ToClients) => {
    if (!('start' in message)) return;
    runClients(message.start.url, message.start.count, message.start.offset).catch((error: unknown) =>
      process.send!({ error: String((error as Error)?.stack ?? error) } satisfies FromClients, () => process.exit(1)),
    );
  });
}

interface ClientProcess {
  connected: Promise<number>;
  collect(): Promise<Arrival[]>;
  kill(): void;
}

function startClients(url: string, count: number, offset: number): ClientProcess {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  let onArrivals: (arrivals: Arrival[]) => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const connected = new Promise<number>((resolve, reject) => {
    failed = reject;
    child.on('message', (message: FromClients) => {
      if ('connected' in message) resolve(message.connected);
      else if ('arrivals' in message) onArrivals(message.arrivals);
      else failed(new Error(`client process failed: ${message.error}`));
    });
  });
  child.once('exit', (code) => failed(new Error(`client process exited with code ${code}`)));
  child.send({ start: { url, count, offset } } satisfies ToClients);
  return {
    connected,
    collect() {
      return new Promise((resolve, reject) => {
        onArrivals = resolve;
        failed = reject;
        child.send({ collect: true } satisfies ToClients);
      });
    },
    kill: () => {
      if (child.connected) child.disconnect();
      child.kill();
    },
  };
}

// --- the run --------------------------------------------------------------------------------------

const round = (value: number) => Number(value.toFixed(value < 10 ? 2 : 1));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function stats(values: number[]): { count: number; p50: number; p99: number; max: number; min: number } {
  if (values.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, min: Number.NaN };
  let max = -Infinity;
  let min = Infinity;
  for (const value of values) {
    if (value > max) max = value;
    if (value < min) min = value;
  }
  return { count: values.length, p50: round(percentile(values, 50)), p99: round(percentile(values, 99)), max: round(max), min: round(min) };
}

/** One phase's events, judged against the ideal schedule deadline − k s (k = 0: `active`). */
interface PhaseAnalysis {
  /** Arrival − ideal of the scheduled seconds (all but the first tick). */
  scheduled: number[];
  /** Server send (serverTime) − ideal, same events. */
  sent: number[];
  /** The first tick, sent when the job started: arrival − start. */
  firstTick: number[];
  firstSecond: number;
  missed: number;
  doubled: number;
  early: number;
  clientsWithGaps: number;
  perSecond: Array<Array<string | number>>;
}

function analyse(arrivals: Arrival[], deadline: number, startedAt: number, lastSecond: number): PhaseAnalysis {
  const events = arrivals.filter(([, state, , , , eventDeadline]) => eventDeadline === deadline && state !== 'idle');
  const secondOf = ([, state, seconds]: Arrival) => (state === 'active' ? 0 : seconds);
  const firstSecond = Math.max(...events.map(secondOf));
  const idealOf = (k: number) => (k === firstSecond ? startedAt : deadline - k * 1000);
  const analysis: PhaseAnalysis = {
    scheduled: [],
    sent: [],
    firstTick: [],
    firstSecond,
    missed: 0,
    doubled: 0,
    early: 0,
    clientsWithGaps: 0,
    perSecond: [],
  };
  const seen = new Map<number, Map<number, number>>();
  for (const event of events) {
    const [client, , , arrivedAt, serverTime] = event;
    const k = secondOf(event);
    if (k === firstSecond) analysis.firstTick.push(arrivedAt - startedAt);
    else {
      analysis.scheduled.push(arrivedAt - idealOf(k));
      analysis.sent.push(serverTime - idealOf(k));
      if (arrivedAt < idealOf(k)) analysis.early += 1;
    }
    const counts = seen.get(client) ?? new Map<number, number>();
    counts.set(k, (counts.get(k) ?? 0) + 1);
    seen.set(client, counts);
  }
  for (let client = 0; client < CLIENTS; client += 1) {
    const counts = seen.get(client) ?? new Map<number, number>();
    let gap = false;
    for (let k = firstSecond; k >= lastSecond; k -= 1) {
      const times = counts.get(k) ?? 0;
      if (times === 0) {
        analysis.missed += 1;
        gap = true;
      }
      if (times > 1) analysis.doubled += times - 1;
    }
    if (gap) analysis.clientsWithGaps += 1;
  }
  for (let k = firstSecond; k >= lastSecond; k -= 1) {
    const ofK = events.filter((event) => secondOf(event) === k);
    const ideal = idealOf(k);
    const arrival = stats(ofK.map(([, , , arrivedAt]) => arrivedAt - ideal));
    const sentAt = Math.max(...ofK.map(([, , , , serverTime]) => serverTime));
    const delivery = stats(ofK.map(([, , , arrivedAt, serverTime]) => arrivedAt - serverTime));
    const label = k === 0 ? '0 (active)' : k === firstSecond ? `${k} (job start)` : String(k);
    analysis.perSecond.push([label, ofK.length, round(sentAt - ideal), arrival.p50, arrival.p99, arrival.max, delivery.p99]);
  }
  return analysis;
}

/**
 * The floor: the same schedule sent straight from the same server to the same clients with
 * `io.local` (no job, no database, no adapter round trip): what this machine's fan-out of one
 * event to 1,000 sockets and the clients' own work cost by themselves.
 */
async function plainFanOut(io: {
  local: { to(room: string): { emit(event: 'maintenance', payload: MaintenanceEvent): unknown } };
}): Promise<{ deadline: number; startedAt: number }> {
  const startedAt = Date.now();
  const deadline = startedAt + COUNTDOWN_SECONDS * 1000;
  const iso = new Date(deadline).toISOString();
  for (let k = COUNTDOWN_SECONDS; k >= 1; k -= 1) {
    while (Date.now() < deadline - k * 1000) await sleep(deadline - k * 1000 - Date.now());
    io.local.to(VISITORS_ROOM).emit('maintenance', { state: 'countdown', deadline: iso, secondsLeft: k, serverTime: Date.now() });
  }
  return { deadline, startedAt };
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  // As server/system.ts wires ROLE=all, through the same factories: createFlashcast (pools,
  // the maintenance view, the countdown ticker, Socket.IO with a pool of its own, the jobs)
  // and the demo app on top; the server with a deep accept queue.
  const flashcast = await createFlashcast({
    databaseUrl: ctx.databaseUrl,
    sessionSecrets: [SECRET],
    opsToken: OPS_TOKEN,
    sessionTtlSeconds: TTL_SECONDS,
    role: 'all',
    logger: ctx.logger,
  });
  const { pool, sessions } = flashcast;
  const maintenance = flashcast.maintenance!;
  const assets = loadAssets(clientDistDir);
  const { app } = createApp(
    {
      pool,
      logger: ctx.logger,
      store: flashcast.store,
      sessions,
      push: flashcast.push,
      assets: (entry) => assets.entry(entry),
      clientDir: clientDistDir,
      ops: flashcast.routes,
      visitorGate: flashcast.maintenanceGate,
    },
    // Thousands of visitors from one address: SESSION_RATE_LIMIT off, as for any load test.
    { sessionSecrets: [SECRET], sessionTtlSeconds: TTL_SECONDS, opsToken: OPS_TOKEN, production: false, sessionRateLimit: 0 },
  );
  const server: Server = createServer(app);
  const realtime = flashcast.attach(server);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const clients: ClientProcess[] = [];
  try {
    const perProcess = Math.ceil(CLIENTS / CLIENT_PROCESSES);
    for (let offset = 0; offset < CLIENTS; offset += perProcess)
      clients.push(startClients(url, Math.min(perProcess, CLIENTS - offset), offset));
    const connected = (await Promise.all(clients.map((client) => client.connected))).reduce((sum, n) => sum + n, 0);
    // Every client's session counts as active (presence) before the flash is written to the active ones.
    while ((await sessions.stats()).active < CLIENTS) await sleep(100);
    ctx.logger.info(`${connected} clients connected in ${clients.length} processes; starting a ${COUNTDOWN_SECONDS} s countdown`);

    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    const cpuBefore = process.cpuUsage();
    let countdownMs = 0;
    const roundsStart = Date.now();
    const rounds: Array<{
      deadline: number;
      startedAt: number;
      flashed: number;
      gateStatus: number;
      plain: { deadline: number; startedAt: number };
    }> = [];
    loopDelay.enable();
    for (let index = 1; index <= ROUNDS; index += 1) {
      // Odd rounds run the floor after the countdown, even ones before: neither always meets
      // the machine's load first.
      let plain = index % 2 === 0 ? await plainFanOut(realtime.io) : undefined;
      if (plain) await sleep(1500);
      const phaseStart = Date.now();
      const response = await fetch(`${url}/ops/api/maintenance`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPS_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ seconds: COUNTDOWN_SECONDS }),
      });
      if (response.status !== 202) throw new Error(`POST /ops/api/maintenance answered ${response.status}: ${await response.text()}`);
      const started = (await response.json()) as { deadline: string };
      const deadline = Date.parse(started.deadline);
      const flashed = Number((await pool.query<{ n: string }>("SELECT count(*) AS n FROM flashes WHERE key = 'maintenance'")).rows[0]!.n);
      // Until maintenance began (asked only after the deadline: the bench's own queries stay
      // out of the countdown), and a moment more for late or doubled events.
      await sleep(deadline - Date.now() + 200);
      while ((await maintenance.status()).state !== 'active') await sleep(100);
      countdownMs += Date.now() - phaseStart;
      await sleep(1500);
      const gateStatus = (await fetch(`${url}/`)).status;
      await maintenance.cancel();
      await sleep(500);
      if (!plain) {
        plain = await plainFanOut(realtime.io);
        await sleep(1500);
      }
      rounds.push({ deadline, startedAt: deadline - COUNTDOWN_SECONDS * 1000, flashed, gateStatus, plain });
      ctx.logger.info(`round ${index} of ${ROUNDS} done`);
    }
    loopDelay.disable();
    const cpu = process.cpuUsage(cpuBefore);
    const roundsMs = Date.now() - roundsStart;
    const arrivals = (await Promise.all(clients.map((client) => client.collect()))).flat();

    // --- analysis
    const analysed = rounds.map((phase) => ({
      countdown: analyse(arrivals, phase.deadline, phase.startedAt, 0),
      floor: analyse(arrivals, phase.plain.deadline, phase.plain.startedAt, 1),
    }));
    const all = (pick: (entry: (typeof analysed)[number]) => number[]) => analysed.flatMap(pick);
    const sum = (pick: (entry: (typeof analysed)[number]) => number) => analysed.reduce((total, entry) => total + pick(entry), 0);
    const perRoundP99 = analysed.map((entry) => stats(entry.countdown.scheduled).p99);
    const floorPerRoundP99 = analysed.map((entry) => stats(entry.floor.scheduled).p99);
    const medianP99 = round(percentile(perRoundP99, 50));
    const floorMedianP99 = round(percentile(floorPerRoundP99, 50));
    const pooled = stats(all((entry) => entry.countdown.scheduled));
    const pooledSent = stats(all((entry) => entry.countdown.sent));
    const pooledFirst = stats(all((entry) => entry.countdown.firstTick));
    const pooledFloor = stats(all((entry) => entry.floor.scheduled));
    const pooledFloorSent = stats(all((entry) => entry.floor.sent));
    const firstSecond = analysed[0]!.countdown.firstSecond;
    const worst = analysed.reduce((a, b) => (stats(b.countdown.scheduled).p99 > stats(a.countdown.scheduled).p99 ? b : a));

    const p99Goal: Goal = {
      name: `p99 tick arrival vs ideal (deadline − k s), ${CLIENTS} clients, seconds ${firstSecond - 1}…1 and 0 (active); median of ${ROUNDS} rounds`,
      measured: medianP99,
      unit: 'ms',
      baseline: { name: 'plain io.local fan-out of the same schedule, same server and clients', value: floorMedianP99 },
      target: `≤ ${GOAL_P99_MS} ms`,
      pass: medianP99 <= GOAL_P99_MS,
    };
    return {
      goals: [
        p99Goal,
        equals(
          `seconds missed, summed over every client and round`,
          sum((entry) => entry.countdown.missed),
          0,
          'ticks',
        ),
        equals(
          'seconds received twice, summed over every client and round',
          sum((entry) => entry.countdown.doubled),
          0,
          'ticks',
        ),
        equals(
          'ticks that arrived before their second',
          sum((entry) => entry.countdown.early),
          0,
          'ticks',
        ),
        equals(
          'clients given the maintenance flash, each round (active sessions)',
          Math.min(...rounds.map((r) => r.flashed)),
          CLIENTS,
          'sessions',
        ),
        equals('GET / after zero, each round', Math.max(...rounds.map((r) => r.gateStatus)), 503, 'status'),
      ],
      tables: [
        {
          title: `Arrival (or sending) minus ideal time, ms: ${CLIENTS} clients in ${CLIENT_PROCESSES} processes, ${ROUNDS} rounds of a ${COUNTDOWN_SECONDS} s countdown, each with the floor next to it`,
          columns: ['what', 'events', 'p50', 'p99', 'max', 'p99 per round'],
          rows: [
            [
              `countdown, clients: seconds ${firstSecond - 1}…1 and active`,
              pooled.count,
              pooled.p50,
              pooled.p99,
              pooled.max,
              perRoundP99.join(' / '),
            ],
            ['countdown, server: sent (serverTime) minus ideal', pooledSent.count, pooledSent.p50, pooledSent.p99, pooledSent.max, '–'],
            [
              `countdown, clients: first tick (${firstSecond}, sent by the start) minus the start`,
              pooledFirst.count,
              pooledFirst.p50,
              pooledFirst.p99,
              pooledFirst.max,
              '–',
            ],
            [
              `floor (io.local, no job or database), clients: seconds ${COUNTDOWN_SECONDS - 1}…1`,
              pooledFloor.count,
              pooledFloor.p50,
              pooledFloor.p99,
              pooledFloor.max,
              floorPerRoundP99.join(' / '),
            ],
            ['floor, server: sent minus ideal', pooledFloorSent.count, pooledFloorSent.p50, pooledFloorSent.p99, pooledFloorSent.max, '–'],
          ],
        },
        {
          title: `Countdown per second, ms, round ${analysed.indexOf(worst) + 1} (the worst): when the server sent it, and when clients got it, against the ideal time`,
          columns: ['second', 'events', 'sent − ideal', 'arrival − ideal p50', 'p99', 'max', 'arrival − sent p99'],
          rows: worst.countdown.perSecond,
        },
        {
          title: 'Server process (the bench runner) during the rounds',
          columns: [
            'CPU ms per second (user + system)',
            'seconds counting down',
            'event-loop delay p50 ms',
            'p99 ms',
            'max ms',
            'floor: missed',
            'floor: doubled',
          ],
          rows: [
            [
              round((cpu.user + cpu.system) / 1000 / (roundsMs / 1000)),
              round(countdownMs / 1000),
              round(loopDelay.percentile(50) / 1e6),
              round(loopDelay.percentile(99) / 1e6),
              round(loopDelay.max / 1e6),
              sum((entry) => entry.floor.missed),
              sum((entry) => entry.floor.doubled),
            ],
          ],
        },
      ],
      notes: [
        "The app as ROLE=all runs it, built by createFlashcast: the demo app with the maintenance gate and ops API, the socket server (a pool of its own, with its PostgreSQL adapter), the countdown ticker that sends this process's sockets their ticks from the stored deadline, and the countdown job on an Agenda in the same process; each round starts through POST /ops/api/maintenance and is ended with a cancel once maintenance began.",
        `${CLIENTS} socket.io-clients (websocket transport), each with its own session made by a first GET /, in ${CLIENT_PROCESSES} child processes; arrival is taken in each client's event handler (performance.timeOrigin + performance.now()), so it includes the client process working through the same broadcast for its other sockets.`,
        `The ideal time of second k is deadline − k s; second 0 is the 'active' event. The first tick (k = ${firstSecond}) is sent as the start commits, after it wrote the flash into every active session, so it is measured from the start instead and kept out of the goal.`,
        `Missed or doubled: for every client, each second from the first tick to 0 must arrive exactly once; clients with a gap: ${sum((entry) => entry.countdown.clientsWithGaps)}.`,
        "The floor sends the same ten ticks next to each countdown (after it in odd rounds, before it in even ones) from the same process with io.local (no job, no adapter NOTIFY, no database): what one event to 1,000 sockets costs on this machine by itself. The goal is the median of the rounds' p99s, so one burst of outside load does not decide it; the pooled p99 over all rounds is beside it.",
        `Load average at start ${ctx.machine.loadAverage} on ${os.availableParallelism()} cores, shared by the server, PostgreSQL and the client processes: a tick is ${formatNumber(CLIENTS)} websocket writes and ${formatNumber(CLIENTS)} client-side decodes on the same cores, so the figures depend on what else runs.`,
      ],
    };
  } finally {
    for (const client of clients) client.kill();
    await flashcast.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
