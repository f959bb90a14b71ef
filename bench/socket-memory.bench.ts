import os from 'node:os';
import { createPool } from '../server/db/pool.ts';
import { formatNumber, type BenchContext, type BenchResult, type Goal, type Table } from './harness.ts';
import {
  checkFileLimit,
  seedSessions,
  sleep,
  startClientsProcess,
  startServerProcess,
  waitForPresence,
  type MemoryReading,
} from './socket-client.ts';

/**
 * Memory of idle connected sockets: the server process's RSS with 5,000 and then 10,000
 * visitor sockets connected (each with its own session), minus its RSS before, per socket.
 * The server runs in a fresh process of its own (server/system.ts's ROLE=web wiring) started
 * with --expose-gc, and every reading follows a full collection; the clients run in another
 * process. The same steps on a bare Socket.IO server, in a fresh process too, give the floor.
 */

export const name = 'socket-memory';

const STEPS = [5_000, 10_000];
/** Sockets are opened this many at a time: this measures idle sockets, not a connect storm. */
const BATCH = 500;
const WARMUP_SOCKETS = 200;
/** After the last socket connected: presence written, handshake garbage collectable. */
const SETTLE_MS = 2_000;
const GOAL_BYTES = 20 * 1024;

interface Reading {
  sockets: number;
  memory: MemoryReading;
}

const perSocket = (bytes: number, sockets: number): number => bytes / sockets / 1024;
const kb = (value: number): number => Number(value.toFixed(1));

async function measure(ctx: BenchContext, cookies: string[] | undefined): Promise<{ base: MemoryReading; readings: Reading[] }> {
  const server = await startServerProcess({ exposeGc: true });
  const clients = await startClientsProcess();
  const total = Math.max(...STEPS);
  try {
    checkFileLimit(server, total, 'server');
    checkFileLimit(clients, total, 'clients');
    const ours = cookies !== undefined;
    const started = await server.call('start', { databaseUrl: ctx.databaseUrl, ours, bare: !ours });
    const url = ours ? started.url : started.bareUrl;
    if (!url) throw new Error('the server process did not start');
    const connected = async (sockets: number): Promise<void> => {
      if (ours) await waitForPresence(url, (counts) => counts.sockets === sockets && counts.activeSessions === sockets);
    };

    // Code paths compiled, buffers and pools allocated once, before the baseline.
    const warm = await clients.call('open', {
      group: 'warmup',
      url,
      ...(ours ? { cookies: cookies.slice(-WARMUP_SOCKETS) } : { count: WARMUP_SOCKETS }),
    });
    if (warm.failed > 0) throw new Error(`warm-up: ${warm.failed} sockets failed: ${warm.errors.join('; ')}`);
    await connected(WARMUP_SOCKETS);
    await clients.call('close', { group: 'warmup' });
    await connected(0);
    await sleep(SETTLE_MS);
    const base = await server.call('memory');
    if (base.sockets !== 0) throw new Error(`${base.sockets} sockets still connected before the baseline`);

    const readings: Reading[] = [];
    let opened = 0;
    for (const step of STEPS) {
      const count = step - opened;
      const result = await clients.call('open', {
        group: `to-${step}`,
        url,
        ...(ours ? { cookies: cookies.slice(opened, step) } : { count }),
        batch: BATCH,
      });
      if (result.failed > 0) throw new Error(`${result.failed} sockets failed to connect: ${result.errors.join('; ')}`);
      opened = step;
      await connected(step);
      await sleep(SETTLE_MS);
      const memory = await server.call('memory');
      if (memory.sockets !== step) throw new Error(`the server holds ${memory.sockets} sockets, not ${step}`);
      readings.push({ sockets: step, memory });
      ctx.logger.info(
        `${ours ? 'ours' : 'bare'}: ${step} sockets, RSS +${formatNumber((memory.rss - base.rss) / 2 ** 20)} MiB, ${kb(perSocket(memory.rss - base.rss, step))} KB a socket`,
      );
    }
    return { base, readings };
  } finally {
    await server.call('stop').catch(() => null);
    await Promise.all([server.stop(), clients.stop()]);
  }
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger });
  try {
    const cookies = await seedSessions(pool, Math.max(...STEPS) + WARMUP_SOCKETS);
    const ours = await measure(ctx, cookies);
    const bare = await measure(ctx, undefined);

    const goals: Goal[] = ours.readings.map((reading) => {
      const exact = perSocket(reading.memory.rss - ours.base.rss, reading.sockets);
      const measured = kb(exact);
      const bareReading = bare.readings.find((r) => r.sockets === reading.sockets)!;
      return {
        name: `server RSS per idle socket at ${reading.sockets.toLocaleString('en-US')} sockets`,
        measured,
        unit: 'KB',
        baseline: { name: 'bare Socket.IO', value: kb(perSocket(bareReading.memory.rss - bare.base.rss, bareReading.sockets)) },
        target: `≤ ${GOAL_BYTES / 1024} KB`,
        pass: exact <= GOAL_BYTES / 1024,
      };
    });

    const rows = (label: string, run: { base: MemoryReading; readings: Reading[] }): Array<Array<string | number>> =>
      run.readings.map(({ sockets, memory }) => [
        label,
        sockets,
        formatNumber(run.base.rss / 2 ** 20),
        formatNumber((memory.rss - run.base.rss) / 2 ** 20),
        kb(perSocket(memory.rss - run.base.rss, sockets)),
        kb(perSocket(memory.heapUsed - run.base.heapUsed, sockets)),
        kb(perSocket(memory.external - run.base.external, sockets)),
        kb(perSocket(memory.rss - run.base.rss - (memory.heapTotal - run.base.heapTotal) - (memory.external - run.base.external), sockets)),
      ]);
    const table: Table = {
      title: 'Server process memory with idle sockets (KB = 1,024 bytes; every reading after a full GC)',
      columns: [
        'server',
        'sockets',
        'RSS before (MiB)',
        'RSS added (MiB)',
        'RSS per socket (KB)',
        'JS heap used per socket (KB)',
        'external per socket (KB)',
        'rest of RSS per socket (KB): native objects, allocator, heap slack',
      ],
      rows: [...rows('ours', ours), ...rows('bare Socket.IO', bare)],
    };
    const notes = [
      `Sockets: socket.io-client over websocket, opened ${BATCH.toLocaleString('en-US')} at a time from a separate process and then left idle (the default 25 s ping only); ours each carry a session of their own (inserted in bulk by SQL) and pass the real handshake session check (the signed cookie, then one existence check per batch of handshakes: server/realtime/handshake-sessions.ts), join their session's room and the visitors room, and count in presence. ${WARMUP_SOCKETS} sockets connect and leave before the baseline so compiled code and pools are not counted as sockets.`,
      `RSS per socket = (RSS with N connected − RSS before) / N, each read after three full collections (--expose-gc) ${SETTLE_MS / 1000} s after the last socket connected; it includes what the allocator keeps from the handshakes, which the JS-heap and external columns do not.`,
      `Contention does not change memory much, but the machine was shared (load average ${ctx.machine.loadAverage} at start, ${os.loadavg()[0]!.toFixed(1)} at the end).`,
    ];
    return { goals, tables: [table], notes };
  } finally {
    await pool.end();
  }
}
