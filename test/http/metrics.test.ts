import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flash } from '../../protocol/events.ts';
import { TEST_OPS_TOKEN } from '../support/app.ts';
import { Visitor, opsHeaders } from '../support/http.ts';
import { parsePrometheusText, sampleValue, type Sample } from '../support/prometheus.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';
import { collectFlashes, connected, eventually, openSocket } from '../realtime/support.ts';

let running: TestSystem;
let metricsUrl: string;

beforeAll(async () => {
  running = await startTestSystem({ METRICS_PORT: '0' });
  metricsUrl = running.system.metricsUrl!;
});
afterAll(async () => {
  await running?.close();
});

async function scrape(url = `${metricsUrl}/metrics`, headers: Record<string, string> = {}): Promise<Sample[]> {
  const response = await fetch(url, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text()).samples;
}

describe('when Prometheus scrapes /metrics', () => {
  it('then the web port wants the ops token, METRICS_PORT does not, and every name is flashcast_ in the text format', async () => {
    expect((await fetch(`${running.url}/metrics`)).status).toBe(401);
    const withToken = await scrape(`${running.url}/metrics`, opsHeaders(TEST_OPS_TOKEN));
    const onMetricsPort = await scrape();
    for (const samples of [withToken, onMetricsPort]) {
      expect(samples.length).toBeGreaterThan(20);
      expect(samples.filter((sample) => !sample.name.startsWith('flashcast_'))).toEqual([]);
    }
    // Both pools, by state, and the waiting clients.
    expect(
      onMetricsPort
        .filter((s) => s.name === 'flashcast_pool_connections')
        .map((s) => s.labels.pool)
        .sort(),
    ).toEqual(['main', 'main', 'realtime', 'realtime']);
    expect(onMetricsPort.some((s) => s.name === 'flashcast_pool_waiting_clients')).toBe(true);
    // METRICS_PORT answers the probes too, and nothing else.
    expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/ops/api/presence`)).status).toBe(404);
  });

  it('then a push, an ack, a socket and a job run each move their metric', async () => {
    const before = await scrape();

    const visitor = new Visitor(running.url);
    expect((await visitor.request('/')).status).toBe(200);
    const socket = openSocket(running.url, visitor);
    const received = collectFlashes(socket);
    await connected(socket);
    try {
      const pushed = await visitor.json<{ sessions: number }>('/ops/api/flashes', {
        method: 'POST',
        headers: opsHeaders(TEST_OPS_TOKEN),
        json: { to: 'all', key: 'notice', message: 'metrics' },
      });
      expect(pushed.status).toBe(201);
      await eventually(() => expect(received.map((flash: Flash) => flash.message)).toContain('metrics'));
      const flash = received.find((f) => f.message === 'metrics')!;
      const acked = await visitor.json<{ acknowledged: number }>('/api/flashes/ack', { method: 'POST', json: { ids: [flash.id] } });
      expect(acked.body.acknowledged).toBe(1);

      const run = await visitor.json('/ops/api/jobs/session-cleanup/run', {
        method: 'POST',
        headers: opsHeaders(TEST_OPS_TOKEN),
        json: {},
      });
      expect(run.status).toBe(200);

      await eventually(async () => {
        const after = await scrape();
        const moved = (name: string, labels: Record<string, string> = {}) =>
          sampleValue(after, name, labels) - sampleValue(before, name, labels);
        expect(moved('flashcast_flashes_written_total')).toBeGreaterThanOrEqual(pushed.body.sessions);
        expect(moved('flashcast_flashes_acknowledged_total')).toBe(1);
        expect(moved('flashcast_push_write_duration_seconds_count')).toBe(1);
        expect(moved('flashcast_push_emit_duration_seconds_count')).toBe(1);
        expect(moved('flashcast_job_runs_total', { job: 'session-cleanup', result: 'success' })).toBe(1);
        expect(moved('flashcast_job_duration_seconds_count', { job: 'session-cleanup' })).toBe(1);
        expect(moved('flashcast_http_request_duration_seconds_count', { route: '/api/flashes/ack', method: 'POST', status: '200' })).toBe(
          1,
        );
        expect(moved('flashcast_http_request_duration_seconds_count', { route: '/ops/api/jobs/:name/run' })).toBe(1);
        expect(sampleValue(after, 'flashcast_open_sockets')).toBe(1);
        expect(sampleValue(after, 'flashcast_active_sessions')).toBeGreaterThanOrEqual(1);
      });
    } finally {
      socket.disconnect();
    }
    await eventually(async () => expect(sampleValue(await scrape(), 'flashcast_open_sockets')).toBe(0));
  });
});
