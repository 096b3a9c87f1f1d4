import { z } from 'zod';
import { BatchflowError } from '../errors.ts';
import { isTimeZone, timePatternProblem } from '../parse/time.ts';
import { GranularityError, parseGranularity } from '../rollup/granularity.ts';

/**
 * What a dataset is: how to read its records, which time buckets and which groupings
 * (rollups) to aggregate them into, and which metrics to summarise.
 */
export interface DatasetDefinition {
  /** Names the dataset and its S3 prefix segment (`uploads/<name>/...`). */
  name: string;
  /** `parquet`: a Parquet file, read by row groups and only the columns named here. */
  format: 'csv' | 'ndjson' | 'parquet';
  timeColumn: string;
  /** `iso`, `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`, or a strftime-style pattern such as `%d/%m/%Y %H:%M`. */
  timeFormat: string;
  /** IANA zone of times written without an offset (default `UTC`). */
  timeZone: string;
  /** Field texts that mean missing (default `[""]`), e.g. `["", "NA", "NULL", "\\N"]`. */
  nullValues: string[];
  /** `.` (default) or `,`. */
  decimalSeparator: '.' | ',';
  /** null (default: none), `,`, `.`, `' '` or `'`. */
  thousandsSeparator: ',' | '.' | ' ' | "'" | null;
  /** A metric or dimension value that is not valid: `reject` the record (default), or count it as missing (`null`). */
  onInvalidValue: 'reject' | 'null';
  /** Canonical bucket width, e.g. "1-hour" (see parseGranularity). */
  granularity: string;
  dimensions: string[];
  metrics: string[];
  /** Each rollup's dimension names, in the order of `dimensions`; `[]` is the total. */
  rollups: string[][];
  /**
   * The text encoding of files without a byte order mark (a UTF-16 or UTF-8 BOM wins): `latin1`
   * (ISO-8859-1, byte = code point) or `windows-1252` for legacy exports. @default 'utf-8'
   */
  encoding: DatasetEncoding;
  /**
   * The share of rejected records (0–100) past which a job fails: its splitter's sample of the
   * first records, and the job as a whole when it ends. null: any number of rejects is tolerated.
   * @default null
   */
  maxRejectedPercent: number | null;
  /** CSV only (filled with their defaults for CSV, absent for NDJSON): see CsvOptions. */
  delimiter?: string;
  quote?: string;
  escape?: string;
  header?: boolean;
  columns?: string[];
  skipRows?: number;
}

/**
 * How a CSV dataset's files are written. The line end (LF, CRLF or CR alone) is not an option: the
 * splitter detects it from the first line.
 */
export interface CsvOptions {
  /** The field separator, one byte (an ASCII character): `,`, `\t`, `;`, `|`, ... @default "," */
  readonly delimiter: string;
  /** The quote, one byte. @default '"' */
  readonly quote: string;
  /**
   * What escapes a quote inside a quoted field: the quote itself (written twice, RFC 4180), or
   * another byte such as a backslash (`\"` for `"`, `\\` for `\`). @default the quote
   */
  readonly escape: string;
  /** Whether the first line (after skipRows) names the fields. @default true */
  readonly header: boolean;
  /**
   * The field names, in file order: required without a header; with one, they replace its names
   * (which may then be empty or repeated, e.g. pandas' unnamed index column).
   */
  readonly columns?: readonly string[];
  /** Lines before the header (or the first record without one), e.g. an export's title. @default 0 */
  readonly skipRows: number;
}

export const CSV_DEFAULTS: Omit<CsvOptions, 'columns' | 'escape'> = { delimiter: ',', quote: '"', header: true, skipRows: 0 };

/** A CSV dataset's options with their defaults (NDJSON datasets have none: the defaults). */
export function csvOptionsOf(def: DatasetDefinition): CsvOptions {
  return {
    delimiter: def.delimiter ?? CSV_DEFAULTS.delimiter,
    quote: def.quote ?? CSV_DEFAULTS.quote,
    escape: def.escape ?? def.quote ?? CSV_DEFAULTS.quote,
    header: def.header ?? CSV_DEFAULTS.header,
    skipRows: def.skipRows ?? CSV_DEFAULTS.skipRows,
    ...(def.columns ? { columns: def.columns } : {}),
  };
}

/** The encodings a dataset can declare; UTF-16 is told by its byte order mark alone. */
export const DATASET_ENCODINGS = ['utf-8', 'latin1', 'windows-1252'] as const;
export type DatasetEncoding = (typeof DATASET_ENCODINGS)[number];

/** A definition that breaks one or more rules, each listed with its field path. */
export class DatasetDefinitionError extends BatchflowError {
  override name = 'DatasetDefinitionError';

  /** Creates the error from its problems, e.g. `rollups[1][0]: "colour" is not one of the dimensions`. */
  constructor(readonly problems: readonly string[]) {
    super(`invalid dataset definition: ${problems.join('; ')}`);
  }
}

/** The identity of a rollup as stored in Postgres: its dimension names joined by ',' ('' for the total). */
export function rollupKey(dims: readonly string[]): string {
  return dims.join(',');
}

const TIME_FORMATS = ['iso', 'epoch_s', 'epoch_ms', 'epoch_us', 'epoch_ns'];

// Says "is required" for a missing field instead of zod's "expected string, received undefined".
const required = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : undefined),
};
const column = z.string(required).min(1, 'must not be empty');
/** One byte of UTF-8 (an ASCII character) that is not a line end: a delimiter or a quote. */
const structureByte = z.string().refine((text) => text.length === 1 && text.charCodeAt(0) > 0 && text.charCodeAt(0) < 0x80 && text !== '\n' && text !== '\r', {
  error: (issue) => `${JSON.stringify(issue.input)} must be one ASCII character other than NUL, CR and LF (e.g. ",", "\\t", ";", "|")`,
});
/** Lines the splitter reads past: the header must still end within MAX_RECORD_BYTES of the object's start. */
const MAX_SKIP_ROWS = 10_000;

const fields = z.strictObject({
  // Lower-case and short: the name is an S3 prefix segment and appears in SQL rows and logs.
  name: z.string(required).regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
    error: (issue) =>
      `${JSON.stringify(issue.input)} must be 1 to 63 characters of a-z, 0-9, "_" and "-", ` +
      `starting with a letter or digit`,
  }),
  format: z.enum(['csv', 'ndjson', 'parquet'], required),
  timeColumn: column,
  timeFormat: z
    .string()
    .default('iso')
    .superRefine((format, ctx) => {
      if (TIME_FORMATS.includes(format)) return;
      const problem = format.includes('%') ? timePatternProblem(format) : `must be one of ${TIME_FORMATS.join(', ')}, or a strftime-style pattern such as "%d/%m/%Y %H:%M"`;
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    }),
  // The value options (README "datasets"): how missing, numeric and local-time values are written.
  timeZone: z
    .string()
    .default('UTC')
    .refine(isTimeZone, { error: (issue) => `${JSON.stringify(issue.input)} is not an IANA time zone name (e.g. "Europe/Berlin")` }),
  nullValues: z.array(z.string()).default(['']),
  decimalSeparator: z.enum(['.', ',']).default('.'),
  thousandsSeparator: z.enum([',', '.', ' ', "'"]).nullable().default(null),
  onInvalidValue: z.enum(['reject', 'null']).default('reject'),
  granularity: z.string(required).superRefine((text, ctx) => {
    try {
      parseGranularity(text);
    } catch (error) {
      if (!(error instanceof GranularityError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
    }
  }),
  dimensions: z.array(column, required),
  metrics: z.array(column, required).min(1, 'must list at least one metric'),
  rollups: z.array(z.array(z.string())).min(1, 'must list at least one rollup, or be left out').optional(),
  encoding: z.enum(DATASET_ENCODINGS).default('utf-8'),
  maxRejectedPercent: z
    .number({ error: (issue) => `${JSON.stringify(issue.input)} is not a number (a percentage, 0 to 100, or null for no limit)` })
    .min(0, 'must be between 0 and 100')
    .max(100, 'must be between 0 and 100')
    .nullable()
    .default(null),
  delimiter: structureByte.optional(),
  quote: structureByte.optional(),
  escape: structureByte.optional(),
  header: z.boolean().optional(),
  columns: z.array(column).min(1, 'must name at least one field').optional(),
  skipRows: z.number().int('must be a whole number').min(0, 'must be 0 or more').max(MAX_SKIP_ROWS, `must be at most ${MAX_SKIP_ROWS}`).optional(),
});

const CSV_FIELDS = ['delimiter', 'quote', 'escape', 'header', 'columns', 'skipRows'] as const;

// The rules between fields; zod runs them whenever every field has the right type, so one
// report holds both the field problems and these.
const schema = fields.superRefine((d, ctx) => {
  const problem = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (d.thousandsSeparator === d.decimalSeparator) problem(['thousandsSeparator'], `${JSON.stringify(d.thousandsSeparator)} is also the decimalSeparator`);
  const dimensionAt = new Map<string, number>();
  d.dimensions.forEach((dim, i) => {
    const first = dimensionAt.get(dim);
    if (first !== undefined) problem(['dimensions', i], `"${dim}" repeats dimensions[${first}]`);
    else dimensionAt.set(dim, i);
    if (dim === d.timeColumn) problem(['dimensions', i], `"${dim}" is the time column`);
    // A ',' would make rollupKey ambiguous: ["a,b"] and ["a", "b"] would share an identity.
    if (dim.includes(',')) problem(['dimensions', i], `"${dim}" contains ",", which separates dimensions in a rollup key`);
  });
  const metricAt = new Map<string, number>();
  d.metrics.forEach((metric, i) => {
    const first = metricAt.get(metric);
    if (first !== undefined) problem(['metrics', i], `"${metric}" repeats metrics[${first}]`);
    else metricAt.set(metric, i);
    if (metric === d.timeColumn) problem(['metrics', i], `"${metric}" is the time column`);
    if (dimensionAt.has(metric)) problem(['metrics', i], `"${metric}" is also a dimension`);
  });
  const rollupAt = new Map<string, number>();
  d.rollups?.forEach((rollup, i) => {
    let valid = true;
    rollup.forEach((dim, j) => {
      const first = rollup.indexOf(dim);
      if (!dimensionAt.has(dim)) {
        problem(['rollups', i, j], `"${dim}" is not one of the dimensions`);
        valid = false;
      } else if (first < j) {
        problem(['rollups', i, j], `"${dim}" repeats rollups[${i}][${first}]`);
        valid = false;
      }
    });
    if (!valid) return;
    const key = rollupKey(inDimensionOrder(rollup, dimensionAt));
    const first = rollupAt.get(key);
    if (first !== undefined) problem(['rollups', i], `has the same dimensions as rollups[${first}]`);
    else rollupAt.set(key, i);
  });
  if (d.format !== 'csv') {
    // A default value is no CSV option (a parsed CSV definition switched to another format holds them all).
    const defaults: Record<string, unknown> = { ...CSV_DEFAULTS, escape: CSV_DEFAULTS.quote };
    for (const field of CSV_FIELDS) if (d[field] !== undefined && d[field] !== defaults[field]) problem([field], `applies to format "csv" only`);
    return;
  }
  const delimiter = d.delimiter ?? CSV_DEFAULTS.delimiter;
  if (delimiter === (d.quote ?? CSV_DEFAULTS.quote)) problem([d.quote === undefined ? 'delimiter' : 'quote'], `${JSON.stringify(delimiter)} is both the delimiter and the quote`);
  if (d.escape === delimiter) problem(['escape'], `${JSON.stringify(delimiter)} is both the delimiter and the escape`);
  if (d.header === false && d.columns === undefined) problem(['columns'], 'is required when header is false (they name the fields)');
  if (d.columns) {
    const columnAt = new Map<string, number>();
    d.columns.forEach((name, i) => {
      const first = columnAt.get(name);
      if (first !== undefined) problem(['columns', i], `"${name}" repeats columns[${first}]`);
      else columnAt.set(name, i);
    });
    const needed: [string, string][] = [[d.timeColumn, 'the time column'], ...d.dimensions.map((n): [string, string] => [n, 'a dimension']), ...d.metrics.map((n): [string, string] => [n, 'a metric'])];
    for (const [name, role] of needed) if (!columnAt.has(name)) problem(['columns'], `lacks "${name}" (${role})`);
  }
});

function inDimensionOrder(rollup: readonly string[], dimensionAt: ReadonlyMap<string, number>): string[] {
  return [...rollup].sort((a, b) => dimensionAt.get(a)! - dimensionAt.get(b)!);
}

function problemsOf(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length > 0 ? `${formatPath(issue.path)}.` : '';
      return issue.keys.map((key) => `${where}${key}: is not a field (expected one of ${Object.keys(fields.shape).join(', ')})`);
    }
    return [`${issue.path.length > 0 ? formatPath(issue.path) : 'definition'}: ${issue.message}`];
  });
}

// ['rollups', 1, 0] → "rollups[1][0]": the path as the user would write it in JSON.
function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join('');
}

/**
 * Validates a dataset definition (e.g. parsed JSON) and fills its defaults: timeFormat 'iso',
 * timeZone 'UTC', nullValues [''], decimalSeparator '.', thousandsSeparator null, onInvalidValue
 * 'reject', encoding 'utf-8', maxRejectedPercent null, rollups each dimension alone plus the total,
 * and for CSV the CSV_DEFAULTS. Throws DatasetDefinitionError listing every problem.
 *
 * @example
 * parseDatasetDefinition({ name: 'orders', format: 'csv', timeColumn: 'ts', granularity: '1-hours',
 *   dimensions: ['region', 'sku'], metrics: ['amount'], rollups: [['sku', 'region'], []] });
 * // → { ..., timeFormat: 'iso', granularity: '1-hour', rollups: [['region', 'sku'], []] }
 */
export function parseDatasetDefinition(input: unknown): DatasetDefinition {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new DatasetDefinitionError(problemsOf(parsed.error));
  const d = parsed.data;
  const dimensionAt = new Map(d.dimensions.map((dim, i) => [dim, i]));
  const rollups = d.rollups ?? [...d.dimensions.map((dim) => [dim]), []];
  return {
    name: d.name,
    format: d.format,
    timeColumn: d.timeColumn,
    timeFormat: d.timeFormat,
    timeZone: d.timeZone,
    nullValues: d.nullValues,
    decimalSeparator: d.decimalSeparator,
    thousandsSeparator: d.thousandsSeparator,
    onInvalidValue: d.onInvalidValue,
    granularity: parseGranularity(d.granularity).label,
    dimensions: d.dimensions,
    metrics: d.metrics,
    rollups: rollups.map((rollup) => inDimensionOrder(rollup, dimensionAt)),
    encoding: d.encoding,
    maxRejectedPercent: d.maxRejectedPercent,
    ...(d.format === 'csv'
      ? { ...CSV_DEFAULTS, escape: d.quote ?? CSV_DEFAULTS.quote, ...withoutUndefined({ delimiter: d.delimiter, quote: d.quote, escape: d.escape, header: d.header, columns: d.columns, skipRows: d.skipRows }) }
      : {}),
  };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
