/**
 * How the ops CLI prints an answer: the API's JSON as it came (for scripts), or plain-text
 * tables for a person. A view picks the rows and columns of one command's answer; an answer
 * whose shape a view does not expect still prints, as fields, so a server newer than the CLI
 * never breaks it.
 */

export type OutputMode = 'table' | 'json';

/** `--json` or `--table` when given; else a table on a terminal and JSON in a pipe, as before. */
export function outputMode(options: { json?: boolean; table?: boolean }, stdoutIsTTY: boolean): OutputMode {
  if (options.json) return 'json';
  if (options.table) return 'table';
  return stdoutIsTTY ? 'table' : 'json';
}

/** One command's answer as text for a person. */
export type View = (answer: unknown) => string;

export function render(mode: OutputMode, answer: unknown, view: View = fieldsView): string {
  return mode === 'json' ? `${JSON.stringify(answer, null, 2)}\n` : view(answer);
}

/** A column: the field's name in the answer, and its heading. */
export type Column = readonly [field: string, heading: string];

const MAX_CELL = 60;
const ISO_TIME = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?Z$/;

/** One value as a cell: times without milliseconds, yes/no, "-" for nothing, objects compact. */
export function cell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined || value === '') text = '-';
  else if (typeof value === 'boolean') text = value ? 'yes' : 'no';
  else if (typeof value === 'string') text = value.replace(ISO_TIME, '$1 $2Z');
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  text = text.replace(/\s+/g, ' ');
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}

/** Rows under headings, columns padded to their widest cell. */
export function table(rows: readonly Record<string, unknown>[], columns: readonly Column[]): string {
  const lines = [columns.map(([, heading]) => heading), ...rows.map((row) => columns.map(([field]) => cell(row[field])))];
  const widths = columns.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  return `${lines.map((line) => line.map((text, i) => (i === line.length - 1 ? text : text.padEnd(widths[i]!))).join('  ')).join('\n')}\n`;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Nested objects as dotted names (flash.key), so every field gets a line of its own. */
function flatten(value: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  return Object.entries(value).flatMap(
    ([name, inner]): Array<[string, unknown]> =>
      isRecord(inner) && Object.keys(inner).length > 0 ? flatten(inner, `${prefix}${name}.`) : [[`${prefix}${name}`, inner]],
  );
}

/** An object as "name  value" lines. */
export const fieldsView: View = (answer) => {
  if (!isRecord(answer)) return `${cell(answer)}\n`;
  const fields = flatten(answer);
  if (fields.length === 0) return '(nothing)\n';
  const width = Math.max(...fields.map(([name]) => name.length));
  return `${fields.map(([name, value]) => `${name.padEnd(width)}  ${cell(value)}`).join('\n')}\n`;
};

/**
 * The list in `answer[field]` as a table, `empty` when it has no rows; the answer's other
 * fields (a page's `next`) follow as lines of their own.
 */
export function listView(field: string, columns: readonly Column[], empty: string): View {
  return (answer) => {
    const rows = isRecord(answer) ? answer[field] : undefined;
    if (!Array.isArray(rows) || !rows.every(isRecord)) return fieldsView(answer);
    const rest = Object.fromEntries(Object.entries(answer as Record<string, unknown>).filter(([name]) => name !== field));
    const body = rows.length === 0 ? `${empty}\n` : table(rows, columns);
    return Object.keys(rest).length === 0 ? body : `${body}\n${fieldsView(rest)}`;
  };
}
