import { describe, expect, it } from 'vitest';
import { bannerMarkup } from '../../common/flash-banner.ts';
import { markupToHtml } from '../../common/markup.ts';

describe("a banner's markup (one function for the server's pages and the widget)", () => {
  it('when a message holds markup, then the server renders it as text, with the page hooks', () => {
    const html = markupToHtml(
      bannerMarkup('notice', '<img src=x onerror=alert(1)> & "quotes"', {
        id: 'f1',
        key: 'notice',
        message: '<img src=x onerror=alert(1)> & "quotes"',
        createdAt: '2030-01-01T00:00:00.000Z',
      }),
    );
    expect(html).not.toContain('<img');
    expect(html).toContain('data-flash-id="f1" data-flash-key="notice"');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;');
  });

  it('when a maintenance flash counts down, then its number sits in data-maintenance-countdown', () => {
    const html = markupToHtml(bannerMarkup('maintenance', 'Server shutting down in 27 seconds'));
    expect(html).toContain('Server shutting down in <span class="fc-countdown" data-maintenance-countdown role="timer">27</span> seconds');
    expect(html).not.toContain('data-flash-id');
  });

  it('when a promotion carries an unsafe link, then no link is rendered', () => {
    const flash = { id: 'p1', key: 'promotion', message: 'Sale', createdAt: '', data: { promotionId: 7, url: 'javascript:alert(1)' } };
    const html = markupToHtml(bannerMarkup(flash.key, flash.message, flash));
    expect(html).toContain('data-promotion-id="7"');
    expect(html).not.toContain('href');
  });
});
