import { describe, expect, it } from 'vitest';
import { agreeUnit, countdownMessage, fillSeconds, splitCountdownMessage } from '../../common/countdown.ts';
import { toneOf } from '../../common/flash-banner.ts';
import { countdownEvent } from '../../server/maintenance/maintenance-events.ts';
import { renderMessage } from '../../server/sessions/flash.ts';

describe("a countdown's words", () => {
  it('when one second is left, then it reads "1 second", not "1 seconds", wherever the text is made', () => {
    expect(fillSeconds('Server shutting down in {seconds} seconds', 1)).toBe('Server shutting down in 1 second');
    expect(fillSeconds('Server shutting down in {seconds} seconds', 2)).toBe('Server shutting down in 2 seconds');
    expect(fillSeconds('Back in {seconds} seconds. Save your work.', 0)).toBe('Back in 0 seconds. Save your work.');
    const deadline = new Date(Date.now() + 900).toISOString();
    expect(renderMessage('Server shutting down in {seconds} seconds', { deadline }, Date.now())).toBe('Server shutting down in 1 second');
    const event = countdownEvent({ state: 'countdown', deadline: new Date(deadline), message: undefined } as never, 1, Date.now());
    expect(event.message).toBe('Server shutting down in 1 second');
    expect(countdownMessage(1)).toBe('Server shutting down in 1 second');
    expect(countdownMessage(5)).toBe('Server shutting down in 5 seconds');
  });

  it('when the widget counts down past 2, then the word after the number follows it', () => {
    const parts = splitCountdownMessage('Server shutting down in 2 seconds')!;
    expect(agreeUnit(parts.after, 1)).toBe(' second');
    expect(agreeUnit(agreeUnit(parts.after, 1), 0)).toBe(' seconds');
    expect(splitCountdownMessage('Server shutting down in 1 second')).toMatchObject({ seconds: 1, after: ' second' });
  });
});

describe('connect-flash types', () => {
  it("when a flash key is one of connect-flash's usual types, then it takes the tone of its meaning", () => {
    expect(['info', 'success', 'error', 'danger', 'warning', 'custom'].map(toneOf)).toEqual([
      'notice',
      'notice',
      'alert',
      'alert',
      'alert',
      'other',
    ]);
  });
});
