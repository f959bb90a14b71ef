import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createOriginCheck } from '../../server/realtime/origin.ts';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('when ALLOWED_ORIGINS is unset', () => {
  const allowed = createOriginCheck(undefined);

  it('then the origin whose host is the Host header is allowed, whichever name the visitor used', () => {
    expect(allowed(request({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' }))).toBe(true);
    expect(allowed(request({ host: 'localhost:3000', origin: 'http://localhost:3000' }))).toBe(true);
    expect(allowed(request({ host: 'shop.example', origin: 'https://shop.example' }))).toBe(true);
    expect(allowed(request({ host: 'shop.example:443', origin: 'https://shop.example' }))).toBe(true);
    expect(allowed(request({ host: 'Shop.Example', origin: 'https://shop.example' }))).toBe(true);
  });

  it('then any other origin is refused, and so are null and malformed ones', () => {
    expect(allowed(request({ host: 'localhost:3000', origin: 'http://127.0.0.1:3000' }))).toBe(false);
    expect(allowed(request({ host: 'shop.example', origin: 'https://evil.example' }))).toBe(false);
    expect(allowed(request({ host: 'shop.example', origin: 'https://shop.example.evil.example' }))).toBe(false);
    expect(allowed(request({ host: 'shop.example', origin: 'https://shop.example:8443' }))).toBe(false);
    expect(allowed(request({ host: 'shop.example', origin: 'null' }))).toBe(false);
    expect(allowed(request({ host: 'shop.example', origin: 'file://shop.example' }))).toBe(false);
    expect(allowed(request({ host: 'shop.example', origin: 'not a url' }))).toBe(false);
    expect(allowed(request({ origin: 'https://shop.example' }))).toBe(false);
  });

  it('then a request without an Origin header (a same-origin GET, a non-browser client) is allowed', () => {
    expect(allowed(request({ host: 'shop.example' }))).toBe(true);
  });
});

describe('when ALLOWED_ORIGINS lists origins', () => {
  const allowed = createOriginCheck(['https://shop.example', 'https://m.shop.example:8443/']);

  it('then exactly those are allowed, compared as origins', () => {
    expect(allowed(request({ host: 'api.shop.example', origin: 'https://shop.example' }))).toBe(true);
    expect(allowed(request({ host: 'api.shop.example', origin: 'https://m.shop.example:8443' }))).toBe(true);
    expect(allowed(request({ host: 'api.shop.example', origin: 'https://SHOP.example:443' }))).toBe(true);
    expect(allowed(request({ host: 'api.shop.example', origin: 'http://shop.example' }))).toBe(false);
    expect(allowed(request({ host: 'api.shop.example', origin: 'https://api.shop.example' }))).toBe(false);
  });
});
