/**
 * Reading the ops API's JSON without trusting its shape: a field of the wrong type reads as
 * missing (or 0), so a server a version ahead or behind shows less, never breaks the console.
 */

export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** A list from `[...]` or `{ <name>: [...] }`: the list endpoints' shape is the server's choice. */
export function listFrom(body: unknown, name: string): unknown[] {
  if (Array.isArray(body)) return body;
  const inner = asRecord(body)[name];
  return Array.isArray(inner) ? inner : [];
}

export const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : Number(value) || 0);
export const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
