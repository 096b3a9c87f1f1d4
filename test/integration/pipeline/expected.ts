import { parse, type Options } from 'csv-parse/sync';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { queryRollups, type RollupRow } from '../../../lib/query/queryRollups.ts';
import type { Db } from '../../../lib/store/db.ts';
import { boundaryAtOrBefore } from '../../support/time.ts';
import type { FlatRecord } from './records.ts';

/**
 * The expectation side of the pipeline tests, computed without the pipeline's code: csv-parse reads
 * the CSV, plain Date arithmetic buckets it, and every statistic comes from the list of values
 * (two-pass variance, exact median by sorting).
 */

/** Query granularities checked against a 1-hour base. */
export const GRANULARITIES = [
  { label: '1-hour', ms: 3_600_000 },
  { label: '6-hours', ms: 6 * 3_600_000 },
  { label: '1-day', ms: 86_400_000 },
  { label: '1-week', ms: 7 * 86_400_000 },
] as const;

/** Relative tolerance of sums and moments: summation order differs between partitions. */
const RELATIVE = 1e-9;
/** The sketch's documented accuracy: a median within 1% of a true middle value. */
const MEDIAN_RELATIVE = 0.01;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Reads a CSV upload with csv-parse and applies the dataset's rules independently: a row is good
 * when it has the header's field count, a non-empty ISO time and numeric (or empty) metrics.
 * `dialect` gives csv-parse the file's delimiter, quote, record delimiter and lines to skip, and
 * the column names of a file without a header.
 */
export function readCsvIndependently(
  bytes: Buffer,
  def: DatasetDefinition,
  dialect: { parse?: Pick<Options, 'delimiter' | 'quote' | 'escape' | 'record_delimiter' | 'from_line'>; columns?: string[] } = {},
): { good: FlatRecord[]; rejected: number } {
  const parsed = parse(bytes, { bom: true, relax_column_count: true, skip_empty_lines: true, ...dialect.parse }) as string[][];
  const [header, ...rows] = dialect.columns ? [dialect.columns, ...parsed] : parsed;
  const at = (name: string) => header.indexOf(name);
  const good: FlatRecord[] = [];
  let rejected = 0;
  for (const row of rows) {
    const time = row[at(def.timeColumn)];
    const timeMs = ISO.test(time ?? '') ? Date.parse(time) : Number.NaN;
    const metricTexts = def.metrics.map((m) => row[at(m)]);
    if (row.length !== header.length || Number.isNaN(timeMs) || metricTexts.some((t) => t !== '' && !DECIMAL.test(t))) {
      rejected++;
      continue;
    }
    good.push({
      timeMs,
      dims: Object.fromEntries(def.dimensions.map((d) => [d, row[at(d)]])),
      metrics: Object.fromEntries(def.metrics.map((m, i) => [m, metricTexts[i] === '' ? undefined : Number(metricTexts[i])])),
    });
  }
  return { good, rejected };
}

interface Expected {
  readonly count: number;
  readonly sum: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly avg: number | null;
  readonly variance: number | null;
  readonly stddev: number | null;
  /** The lower and upper middle order statistics. */
  readonly middle: readonly [number, number] | null;
  /** Σ|x| and max |x|: the scale a near-zero sum or variance is compared at. */
  readonly absSum: number;
  readonly maxAbs: number;
}

/** Per (bucket, dimension values, metric) key, the statistics of the records' values. */
export function expectedRollup(
  records: readonly FlatRecord[],
  q: { readonly by: readonly string[]; readonly granularityMs: number; readonly metrics: readonly string[] },
): Map<string, Expected> {
  const groups = new Map<string, number[]>();
  for (const r of records) {
    const bucket = boundaryAtOrBefore(r.timeMs, q.granularityMs);
    const start = new Date(bucket).toISOString();
    const dims = q.by.map((d) => r.dims[d]);
    for (const metric of q.metrics) {
      // A group exists for every record; a metric with no value in it has count 0.
      const key = rowKey(start, dims, metric);
      const values = groups.get(key) ?? [];
      groups.set(key, values);
      const v = r.metrics[metric];
      if (v !== undefined) values.push(v);
    }
  }
  return new Map([...groups].map(([key, values]) => [key, statistics(values)]));
}

function statistics(values: readonly number[]): Expected {
  const n = values.length;
  const absSum = values.reduce((s, v) => s + Math.abs(v), 0);
  const maxAbs = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  if (n === 0) return { count: 0, sum: null, min: null, max: null, avg: null, variance: null, stddev: null, middle: null, absSum, maxAbs };
  const sum = values.reduce((s, v) => s + v, 0);
  const avg = sum / n;
  const variance = n < 2 ? null : values.reduce((s, v) => s + (v - avg) ** 2, 0) / (n - 1);
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: n,
    sum,
    min: sorted[0],
    max: sorted[n - 1],
    avg,
    variance,
    stddev: variance === null ? null : Math.sqrt(variance),
    middle: [sorted[Math.floor((n - 1) / 2)], sorted[Math.ceil((n - 1) / 2)]],
    absSum,
    maxAbs,
  };
}

function rowKey(bucketStart: string, dims: readonly string[], metric: string): string {
  return JSON.stringify([bucketStart, dims, metric]);
}

/** Within RELATIVE of the expectation, or of `scale` when the expectation is near zero. */
function close(actual: number | null, expected: number | null, scale: number): boolean {
  if (actual === null || expected === null) return actual === expected;
  return Math.abs(actual - expected) <= RELATIVE * Math.max(Math.abs(expected), scale);
}

function medianWithin(median: number | null, middle: readonly [number, number] | null): boolean {
  if (median === null || middle === null) return median === middle;
  const [low, high] = middle;
  return median >= low - MEDIAN_RELATIVE * Math.abs(low) - 1e-12 && median <= high + MEDIAN_RELATIVE * Math.abs(high) + 1e-12;
}

/** Every difference between query rows and the expectation, one line each (empty: they agree). */
export function differences(actual: readonly RollupRow[], expected: ReadonlyMap<string, Expected>, by: readonly string[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const row of actual) {
    const key = rowKey(row.bucketStart, by.map((d) => row[d] as string), row.metric);
    seen.add(key);
    const e = expected.get(key);
    if (!e) {
      problems.push(`unexpected row ${key}: ${JSON.stringify(row)}`);
      continue;
    }
    const wrong = [
      row.count !== e.count && `count ${row.count} ≠ ${e.count}`,
      row.min !== e.min && `min ${row.min} ≠ ${e.min}`,
      row.max !== e.max && `max ${row.max} ≠ ${e.max}`,
      !close(row.sum, e.sum, e.absSum) && `sum ${row.sum} ≠ ${e.sum}`,
      !close(row.avg, e.avg, e.maxAbs) && `avg ${row.avg} ≠ ${e.avg}`,
      !close(row.variance, e.variance, e.maxAbs ** 2) && `variance ${row.variance} ≠ ${e.variance}`,
      !close(row.stddev, e.stddev, e.maxAbs) && `stddev ${row.stddev} ≠ ${e.stddev}`,
      !medianWithin(row.median, e.middle) && `median ${row.median} ∉ ±1% of ${JSON.stringify(e.middle)}`,
    ].filter(Boolean);
    if (wrong.length > 0) problems.push(`${key}: ${wrong.join(', ')}`);
  }
  for (const key of expected.keys()) if (!seen.has(key)) problems.push(`missing row ${key}`);
  return problems;
}

/**
 * Queries every listed rollup at every granularity and compares each with the expectation from
 * `records`; returns the differences and how many rows were compared.
 */
export async function compareQueries(
  db: Db,
  def: DatasetDefinition,
  records: readonly FlatRecord[],
  rollups: readonly (readonly string[])[],
  granularities: readonly { readonly label: string; readonly ms: number }[] = GRANULARITIES,
): Promise<{ problems: string[]; rows: number }> {
  const problems: string[] = [];
  let rows = 0;
  for (const by of rollups) {
    for (const g of granularities) {
      const actual = await queryRollups(db, def, { granularity: g.label, by });
      const expected = expectedRollup(records, { by, granularityMs: g.ms, metrics: def.metrics });
      rows += actual.length;
      problems.push(...differences(actual, expected, by).map((p) => `[${by.join(',')}] ${g.label} ${p}`));
    }
  }
  return { problems, rows };
}
