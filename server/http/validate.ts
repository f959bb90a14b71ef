import type { z } from 'zod';
import { validationFailed } from '../errors.ts';

/**
 * Parses untrusted input, turning the first problem into a 400 that names the field.
 *
 * Before any schema: no string anywhere in the input may hold a NUL character. PostgreSQL
 * cannot store one in text or jsonb, so a flash, promotion or maintenance message with one
 * used to fail at the INSERT, as a 500 with a stack in the log. Checked here, once, every
 * text field of every route that parses its input is covered, the ones added later included.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const nul = findNul(input);
  if (nul) throw validationFailed(`${nul.length > 0 ? `${nul.join('.')}: ` : ''}must not contain NUL characters`);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw validationFailed(`${where}${issue?.message ?? 'invalid input'}`);
}

/**
 * The path of the first string (value or key) holding U+0000, if any; built on the way back,
 * so a deeply nested body costs one walk, not a copy of its path per level.
 */
function findNul(value: unknown): Array<string | number> | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? [] : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  const entries: Array<[string | number, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof key === 'string' && key.includes('\u0000')) return [key.replaceAll('\u0000', '\\0')];
    const found = findNul(item);
    if (found) return [key, ...found];
  }
  return undefined;
}
