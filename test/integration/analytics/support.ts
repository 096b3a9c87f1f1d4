import { expect } from 'vitest';
import { AGGREGATIONS, parseAnalyticsJobDefinition, type AnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import type { RollupRow } from '../../../lib/query/queryRollups.ts';
import type { ResultRow } from '../../../lib/analytics/results.ts';
import { putAnalyticsJob } from '../../../lib/store/analytics.ts';
import type { Db } from '../../../lib/store/db.ts';
import { prng } from '../../../localstack/demo/sampleData.ts';
import { differences, expectedRollup, readCsvIndependently } from '../pipeline/expected.ts';
import { uploadAndWait, type Pipeline } from '../pipeline/pipeline.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import type { FlatRecord } from '../pipeline/records.ts';
import { boundaryAtOrBefore, GRANULARITY_MS, HOUR } from '../../support/time.ts';

/**
 * The analytics tests' inputs and expectations. Uploads are CSV files of the `salesCsv` dataset
 * (pipeline.ts) over a chosen time range; expectations come from expected.ts (csv-parse, plain
 * Date.UTC arithmetic, two-pass variance, exact sorted median with its 1% rule), never from the
 * analytics code.
 */

export const REGIONS = ['north', 'south', 'east', 'west', ''] as const;
export const PRODUCTS = ['p1', 'p2', 'p3', 'p4'] as const;

/**
 * A CSV upload `ts,region,product,amount,quantity` with `records` rows spread uniformly over each of
 * `ranges` ([fromMs, toMs), in turn): amounts with cents (some negative, some empty), integer
 * quantities (some empty). Read it back with expected.ts's readCsvIndependently.
 */
export function salesFile(options: { records: number; seed: number; ranges: readonly (readonly [number, number])[] }): Buffer {
  const random = prng(options.seed);
  const lines = ['ts,region,product,amount,quantity'];
  for (let i = 0; i < options.records; i++) {
    const [from, to] = options.ranges[i % options.ranges.length];
    const ts = new Date(from + Math.floor(random() * (to - from))).toISOString();
    const region = REGIONS[Math.floor(random() * REGIONS.length)];
    const product = PRODUCTS[Math.floor(random() * PRODUCTS.length)];
    const amount = random() < 0.05 ? '' : (((random() < 0.1 ? -1 : 1) * Math.floor(random() * 100_000)) / 100).toFixed(2);
    const quantity = random() < 0.1 ? '' : String(1 + Math.floor(random() * 20));
    lines.push([ts, region, product, amount, quantity].join(','));
  }
  return Buffer.from(lines.join('\n') + '\n');
}

/** A job over the salesCsv dataset computing every aggregation of both metrics; disabled, so only the test runs it. */
export function salesJob(fields: {
  name: string;
  dataset: string;
  granularity: string;
  entity?: string | null;
  delayHours?: number;
  filter?: string | null;
  schedule?: string;
  timezone?: string;
  enabled?: boolean;
}): AnalyticsJobDefinition {
  return parseAnalyticsJobDefinition({
    enabled: false,
    schedule: 'EVERYHOUR',
    entity: null,
    delayHours: 0,
    filter: null,
    metrics: [
      { metric: 'amount', aggregations: [...AGGREGATIONS] },
      { metric: 'quantity', aggregations: [...AGGREGATIONS] },
    ],
    ...fields,
  });
}

/** Validates and stores a job. */
export async function putJob(p: { readonly db: Db }, job: AnalyticsJobDefinition): Promise<AnalyticsJobDefinition> {
  await putAnalyticsJob(p.db, job);
  return job;
}

/** The window [start, end) of `granularity` that ended at or before fireTime − delay, by plain arithmetic. */
export function expectedWindow(fireTimeMs: number, granularity: string, delayHours: number): { start: Date; end: Date } {
  const g = GRANULARITY_MS[granularity];
  const end = boundaryAtOrBefore(fireTimeMs - delayHours * HOUR, g);
  return { start: new Date(end - g), end: new Date(end) };
}

/**
 * Every difference between a job's result rows for `windows` and the independent computation over
 * `records` (already filtered like the job): the rows are pivoted into expected.ts's row shape
 * (one per window, entity and metric) and compared with its tolerances. Also checks each row's
 * window end is its start plus the granularity and that no row is outside `windows`.
 */
export function resultDifferences(
  rows: readonly ResultRow[],
  records: readonly FlatRecord[],
  job: AnalyticsJobDefinition,
  windows: readonly { start: Date; end: Date }[],
): string[] {
  const g = GRANULARITY_MS[job.granularity];
  const starts = new Set(windows.map((w) => w.start.toISOString()));
  const by = job.entity === null ? [] : [job.entity];
  const problems: string[] = [];
  const pivot = new Map<string, Record<string, string | number | null>>();
  const names: Record<string, string> = { std: 'stddev', var: 'variance' };
  for (const r of rows) {
    const start = r.windowStart.toISOString();
    if (!starts.has(start)) problems.push(`row outside the windows: ${JSON.stringify(r)}`);
    if (r.windowEnd.getTime() - r.windowStart.getTime() !== g) problems.push(`window is not one ${job.granularity}: ${JSON.stringify(r)}`);
    if (job.entity === null && r.entity !== '') problems.push(`totals row with an entity: ${JSON.stringify(r)}`);
    const key = JSON.stringify([start, r.entity, r.metric]);
    const row = pivot.get(key) ?? { bucketStart: start, metric: r.metric, ...(job.entity === null ? {} : { [job.entity]: r.entity }) };
    pivot.set(key, row);
    const name = names[r.aggregation] ?? r.aggregation;
    if (name in row) problems.push(`duplicate ${r.aggregation} of ${key}`);
    row[name] = r.value;
  }
  for (const [key, row] of pivot) {
    const missing = AGGREGATIONS.filter((a) => !((names[a] ?? a) in row));
    if (missing.length > 0) problems.push(`${key} lacks ${missing.join(', ')}`);
  }
  const expected = expectedRollup(records, { by, granularityMs: g, metrics: job.metrics.map((m) => m.metric) });
  const inWindows = new Map([...expected].filter(([key]) => starts.has(JSON.parse(key)[0] as string)));
  problems.push(...differences([...pivot.values()] as RollupRow[], inWindows, by));
  return problems;
}

/** Records whose time lies in [start, end). */
export function recordsIn(records: readonly FlatRecord[], start: Date, end: Date): FlatRecord[] {
  return records.filter((r) => r.timeMs >= start.getTime() && r.timeMs < end.getTime());
}

/** Asserts every row has exactly the documented shape. */
export function expectResultShape(rows: readonly ResultRow[], job: string): void {
  for (const r of rows) {
    expect(Object.keys(r).sort()).toEqual(['aggregation', 'entity', 'job', 'metric', 'value', 'windowEnd', 'windowStart']);
    expect(r).toMatchObject({ job, windowStart: expect.any(Date), windowEnd: expect.any(Date), entity: expect.any(String), metric: expect.any(String) });
    expect(AGGREGATIONS).toContain(r.aggregation);
    expect(r.value === null || typeof r.value === 'number').toBe(true);
  }
}

/**
 * Uploads a salesFile under `key`, waits until its job completed with every good record aggregated,
 * and returns those records as read independently of the pipeline (the tests' expectations).
 */
export async function uploadSales(p: Pipeline, def: DatasetDefinition, key: string, file: Parameters<typeof salesFile>[0]): Promise<FlatRecord[]> {
  const bytes = salesFile(file);
  const records = readCsvIndependently(bytes, def).good;
  const job = await uploadAndWait(p, key, bytes);
  if (job.status !== 'completed' || job.recordsAggregated !== records.length) throw new Error(`upload did not complete: ${JSON.stringify(job)}`);
  return records;
}
