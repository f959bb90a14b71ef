import { z } from 'zod';

/**
 * What ops may send for a promotion (CONTRACT.md: `{"name","callToAction","active",startsAt?,
 * endsAt?,weight?}`, plus `url`). Objects are strict: a misspelt field (`call_to_action`) is a
 * 400 that names it rather than a silently ignored value.
 */

/** A site path ("/sale") or an http(s) URL. Not "//host" (another site) or javascript: links. */
export const promotionUrlSchema = z
  .string()
  .trim()
  .max(2000, 'must be at most 2000 characters')
  .refine((value) => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what a URL must not hold
    if (/[\s\u0000-\u001f\\]/.test(value)) return false;
    if (value.startsWith('/')) return !value.startsWith('//');
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a path on this site ("/sale") or an http(s) URL ("https://shop.example/sale")');

const timeSchema = z.iso.datetime({ offset: true, error: 'must be an ISO time such as 2030-01-31T12:00:00Z' });

const fields = {
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  // The promotion flash's message (CONTRACT.md): a flash message's limits.
  callToAction: z.string().trim().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'),
  url: promotionUrlSchema.nullable(),
  active: z.boolean({ error: 'must be true or false' }),
  startsAt: timeSchema.nullable(),
  endsAt: timeSchema.nullable(),
  weight: z
    .number({ error: 'must be a number' })
    .positive('must be greater than 0')
    .max(1_000_000, 'must be at most 1,000,000')
    .refine(Number.isFinite, 'must be a finite number'),
};

const windowInOrder = (value: { startsAt?: string | null; endsAt?: string | null }) =>
  !value.startsAt || !value.endsAt || Date.parse(value.endsAt) > Date.parse(value.startsAt);
const windowMessage = { message: 'must be after startsAt', path: ['endsAt'] };

export const createPromotionSchema = z
  .strictObject({
    name: fields.name,
    callToAction: fields.callToAction,
    url: fields.url.optional(),
    active: fields.active.default(true),
    startsAt: fields.startsAt.optional(),
    endsAt: fields.endsAt.optional(),
    weight: fields.weight.default(1),
  })
  .refine(windowInOrder, windowMessage);

/** A PATCH: any of the fields; `null` clears url, startsAt or endsAt. */
export const updatePromotionSchema = z
  .strictObject({
    name: fields.name.optional(),
    callToAction: fields.callToAction.optional(),
    url: fields.url.optional(),
    active: fields.active.optional(),
    startsAt: fields.startsAt.optional(),
    endsAt: fields.endsAt.optional(),
    weight: fields.weight.optional(),
  })
  .refine((value) => Object.keys(value).length > 0, 'send at least one field to change')
  .refine(windowInOrder, windowMessage);

export type CreatePromotionInput = z.output<typeof createPromotionSchema>;
export type UpdatePromotionInput = z.output<typeof updatePromotionSchema>;
