import { describe, expect, it } from 'vitest';
import { MAX_ACK_IDS, type Flash } from '../../protocol/events.ts';
import { clockOffset, countdownMessage, offsetFromRendered, secondsLeft, splitCountdownMessage } from '../../common/countdown.ts';
import { deadlineOf, parseFlash, promotionOf, safeHref, toneOf } from '../../common/flash-banner.ts';
import { createAckBatcher, type Timers } from '../../client/visitor/ack-batcher.ts';
import { createFlashTracker } from '../../client/visitor/flash-tracker.ts';

let nextId = 0;
function flash(fields: Partial<Flash> = {}): Flash {
  nextId += 1;
  return {
    id: `00000000-0000-4000-8000-${String(nextId).padStart(12, '0')}`,
    key: 'notice',
    message: `message ${nextId}`,
    createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, nextId)).toISOString(),
    ...fields,
  };
}

/** Timers driven by hand: `advance(ms)` fires what falls due, in order. */
function fakeTimers(): Timers & { advance(ms: number): void; now: number; scheduled(): number } {
  let now = 0;
  let seq = 0;
  const queue = new Map<number, { at: number; callback: () => void }>();
  return {
    get now() {
      return now;
    },
    setTimeout(callback, ms) {
      seq += 1;
      queue.set(seq, { at: now + ms, callback });
      return seq;
    },
    clearTimeout(handle) {
      queue.delete(handle as number);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...queue.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        queue.delete(due[0]);
        now = due[1].at;
        due[1].callback();
      }
      now = until;
    },
    scheduled: () => queue.size,
  };
}

describe('parseFlash', () => {
  it('when a payload has id, key and message, then it is a flash with its data kept', () => {
    const parsed = parseFlash({ id: 'a', key: 'promotion', message: 'Hi', createdAt: 'x', data: { promotionId: 3 } });
    expect(parsed).toEqual({ id: 'a', key: 'promotion', message: 'Hi', createdAt: 'x', data: { promotionId: 3 } });
  });

  it('when a payload lacks a field or has the wrong types, then it is refused', () => {
    expect(parseFlash(null)).toBeUndefined();
    expect(parseFlash('flash')).toBeUndefined();
    expect(parseFlash({ key: 'notice', message: 'no id' })).toBeUndefined();
    expect(parseFlash({ id: '', key: 'notice', message: 'empty id' })).toBeUndefined();
    expect(parseFlash({ id: 'a', key: 'notice', message: 42 })).toBeUndefined();
  });

  it('when data is not an object, then it is dropped', () => {
    expect(parseFlash({ id: 'a', key: 'k', message: 'm', data: [1] })?.data).toBeUndefined();
  });
});

describe('flash tracker', () => {
  it('when the same id is offered twice (page, push, fetch), then it is shown once', () => {
    const tracker = createFlashTracker();
    const first = flash();
    expect(tracker.offer(first)).toEqual({ kind: 'show' });
    expect(tracker.offer({ ...first })).toEqual({ kind: 'duplicate' });
    expect(tracker.hasSeen(first.id)).toBe(true);
  });

  it('when a newer flash comes under the same key, then it replaces the older banner', () => {
    const tracker = createFlashTracker();
    const older = flash({ key: 'alert' });
    const newer = flash({ key: 'alert' });
    tracker.offer(older);
    expect(tracker.offer(newer)).toEqual({ kind: 'show', replaces: older });
    expect(tracker.latest('alert')).toBe(newer);
  });

  it('when an older flash arrives after a newer one of its key, then it is superseded, not shown', () => {
    const tracker = createFlashTracker();
    const older = flash({ key: 'promotion' });
    const newer = flash({ key: 'promotion' });
    tracker.offer(newer);
    expect(tracker.offer(older)).toEqual({ kind: 'superseded' });
    expect(tracker.latest('promotion')).toBe(newer);
    // Superseded ids count as seen: a later fetch does not bring them back.
    expect(tracker.offer(older)).toEqual({ kind: 'duplicate' });
  });

  it('when flashes have different keys, then each shows on its own', () => {
    const tracker = createFlashTracker();
    expect(tracker.offer(flash({ key: 'notice' }))).toEqual({ kind: 'show' });
    expect(tracker.offer(flash({ key: 'alert' }))).toEqual({ kind: 'show' });
  });

  it('when a flash has no usable time, then it counts as the newest', () => {
    const tracker = createFlashTracker();
    const dated = flash();
    const undated = flash({ createdAt: '' });
    tracker.offer(dated);
    expect(tracker.offer(undated)).toEqual({ kind: 'show', replaces: dated });
  });

  it('when a key is cleared, then its next flash shows without replacing', () => {
    const tracker = createFlashTracker();
    tracker.offer(flash({ key: 'maintenance' }));
    tracker.clearKey('maintenance');
    expect(tracker.offer(flash({ key: 'maintenance' }))).toEqual({ kind: 'show' });
  });
});

describe('ack batcher', () => {
  it('when flashes are shown within the window, then one acknowledgement carries them all, 200 ms after the first', () => {
    const timers = fakeTimers();
    const sent: string[][] = [];
    const acks = createAckBatcher({ send: (ids) => sent.push(ids), timers });
    acks.add('a');
    timers.advance(50);
    acks.add('b');
    acks.add('a');
    timers.advance(100);
    expect(sent).toEqual([]);
    timers.advance(50);
    expect(sent).toEqual([['a', 'b']]);
    expect(timers.now).toBe(200);
    expect(acks.pending()).toEqual([]);
  });

  it('when a flash is shown after a batch went out, then it starts a new batch', () => {
    const timers = fakeTimers();
    const sent: string[][] = [];
    const acks = createAckBatcher({ send: (ids) => sent.push(ids), timers });
    acks.add('a');
    timers.advance(200);
    acks.add('b');
    timers.advance(199);
    expect(sent).toEqual([['a']]);
    timers.advance(1);
    expect(sent).toEqual([['a'], ['b']]);
  });

  it('every shown id is acknowledged well within the 1 s the contract promises', () => {
    const timers = fakeTimers();
    const sentAt = new Map<string, number>();
    const acks = createAckBatcher({
      send: (ids) => {
        for (const id of ids) sentAt.set(id, timers.now);
      },
      timers,
    });
    const shownAt = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const id = `id-${i}`;
      shownAt.set(id, timers.now);
      acks.add(id);
      timers.advance(37);
    }
    timers.advance(1000);
    for (const [id, at] of shownAt) expect(sentAt.get(id)! - at).toBeLessThanOrEqual(200);
  });

  it('when more ids than one acknowledgement may carry are pending, then they go out in chunks', () => {
    const timers = fakeTimers();
    const sent: string[][] = [];
    const acks = createAckBatcher({ send: (ids) => sent.push(ids), timers });
    for (let i = 0; i < MAX_ACK_IDS * 2 + 5; i++) acks.add(`id-${i}`);
    timers.advance(200);
    expect(sent.map((ids) => ids.length)).toEqual([MAX_ACK_IDS, MAX_ACK_IDS, 5]);
  });

  it('when flushed (page hide), then pending ids go at once and the timer is cancelled', () => {
    const timers = fakeTimers();
    const sent: string[][] = [];
    const acks = createAckBatcher({ send: (ids) => sent.push(ids), timers });
    acks.add('a');
    acks.flush();
    expect(sent).toEqual([['a']]);
    expect(timers.scheduled()).toBe(0);
    acks.flush();
    timers.advance(1000);
    expect(sent).toEqual([['a']]);
  });
});

describe('countdown arithmetic', () => {
  const deadline = Date.UTC(2030, 0, 1, 12, 0, 30);
  const start = Date.UTC(2030, 0, 1, 12, 0, 0);

  it('when clocks agree, then seconds left round up as the server rounds, and stop at zero', () => {
    expect(secondsLeft(deadline, start)).toBe(30);
    expect(secondsLeft(deadline, start + 1)).toBe(30);
    expect(secondsLeft(deadline, start + 999)).toBe(30);
    expect(secondsLeft(deadline, start + 1000)).toBe(29);
    expect(secondsLeft(deadline, start + 29_999)).toBe(1);
    expect(secondsLeft(deadline, start + 30_000)).toBe(0);
    expect(secondsLeft(deadline, start + 90_000)).toBe(0);
  });

  it('when our clock is behind the server, then the offset from serverTime corrects it', () => {
    // The server says it is 12:00:10 when our clock says 12:00:00.
    const offset = clockOffset(start + 10_000, start);
    expect(offset).toBe(10_000);
    expect(secondsLeft(deadline, start + offset)).toBe(20);
    // Counting down locally between ticks stays on the server's clock.
    expect(secondsLeft(deadline, start + 250 + offset)).toBe(20);
    expect(secondsLeft(deadline, start + 1000 + offset)).toBe(19);
  });

  it('when serverTime is not a number, then no correction is made', () => {
    expect(clockOffset(Number.NaN, start)).toBe(0);
  });

  it('when a rendered number agrees with our clock, then our clock is trusted', () => {
    expect(offsetFromRendered(deadline, 30, start)).toBe(0);
    expect(offsetFromRendered(deadline, 29, start)).toBe(0);
  });

  it('when a rendered number disagrees with our clock, then the offset is estimated from it', () => {
    // Our clock runs a minute fast: locally the deadline has passed, the page said 25 s.
    const fastNow = start + 5_000 + 60_000;
    const offset = offsetFromRendered(deadline, 25, fastNow);
    expect(Math.abs(offset + 60_000)).toBeLessThanOrEqual(1000);
    expect(secondsLeft(deadline, fastNow + offset)).toBe(25);
  });

  it('reads the deadline from data.deadline only when it is an ISO time', () => {
    expect(deadlineOf({ data: { deadline: new Date(deadline).toISOString() } })).toBe(deadline);
    expect(deadlineOf({ data: { deadline: 'soon' } })).toBeUndefined();
    expect(deadlineOf({ data: { deadline: 5 } })).toBeUndefined();
    expect(deadlineOf({})).toBeUndefined();
  });
});

describe('countdown message', () => {
  it('when the message holds "N seconds", then it splits around the number and joins back to itself', () => {
    const message = 'Server shutting down in 27 seconds. Back soon.';
    const parts = splitCountdownMessage(message);
    expect(parts).toEqual({ before: 'Server shutting down in ', seconds: 27, after: ' seconds. Back soon.' });
    expect(`${parts!.before}${parts!.seconds}${parts!.after}`).toBe(message);
    expect(splitCountdownMessage('Server shutting down in 1 second')?.seconds).toBe(1);
  });

  it('when the message has no seconds, then there is nothing to count', () => {
    expect(splitCountdownMessage('Back in 5 minutes')).toBeUndefined();
    expect(splitCountdownMessage('Maintenance tonight')).toBeUndefined();
  });

  it('when a live event brings no countdown text, then the standard one is built around its message', () => {
    expect(countdownMessage(30)).toBe('Server shutting down in 30 seconds');
    expect(countdownMessage(30, 'Deploying v2')).toBe('Server shutting down in 30 seconds. Deploying v2');
    expect(countdownMessage(30, 'Server shutting down in 30 seconds')).toBe('Server shutting down in 30 seconds');
  });
});

describe('links and promotions', () => {
  it('when a link is a path or http(s), then it is kept', () => {
    expect(safeHref('/products/widget-pro')).toBe('/products/widget-pro');
    expect(safeHref('https://shop.example/sale')).toBe('https://shop.example/sale');
    expect(safeHref('  http://shop.example  ')).toBe('http://shop.example/');
  });

  it('when a link could run script or leave for another host unseen, then it is dropped', () => {
    expect(safeHref('javascript:alert(1)')).toBeUndefined();
    expect(safeHref(' JavaScript:alert(1)')).toBeUndefined();
    expect(safeHref('data:text/html,<script>alert(1)</script>')).toBeUndefined();
    expect(safeHref('//evil.example/')).toBeUndefined();
    expect(safeHref('/\\evil.example/')).toBeUndefined();
    expect(safeHref('relative/path')).toBeUndefined();
    expect(safeHref(42)).toBeUndefined();
    expect(safeHref('')).toBeUndefined();
  });

  it('when a promotion flash carries its id and link, then both are read', () => {
    expect(promotionOf({ key: 'promotion', data: { promotionId: 7, url: '/products/doohickey' } })).toEqual({
      promotionId: 7,
      url: '/products/doohickey',
    });
    expect(promotionOf({ key: 'promotion', data: { promotionId: '8' } })).toEqual({ promotionId: 8 });
  });

  it('when the id or link is unusable, or the flash is no promotion, then it is left out', () => {
    expect(promotionOf({ key: 'promotion', data: { promotionId: 'x', url: 'javascript:void 0' } })).toEqual({});
    expect(promotionOf({ key: 'promotion' })).toEqual({});
    expect(promotionOf({ key: 'notice', data: { promotionId: 7 } })).toBeUndefined();
  });

  it('styles the system keys apart and every other key alike', () => {
    expect(['notice', 'alert', 'promotion', 'maintenance', 'sale'].map(toneOf)).toEqual([
      'notice',
      'alert',
      'promotion',
      'maintenance',
      'other',
    ]);
  });
});
