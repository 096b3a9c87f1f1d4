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
});

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
 * 'reject', encoding 'utf-8', maxRejectedPercent null, rollups each dimension alone plus the total.
 * Throws DatasetDefinitionError listing every problem.
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
  };
}
