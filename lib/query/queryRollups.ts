import { rollupKey, type DatasetDefinition } from '../datasets/definition.ts';
import { BatchflowError } from '../errors.ts';
import { BUCKET_ORIGIN_MS, isMultipleOf, parseGranularity } from '../rollup/granularity.ts';
import { sketchQuantile } from '../rollup/sketch.ts';
import type { Db } from '../store/db.ts';
import { readRollup } from '../store/rollups.ts';

/** A query that cannot be answered as asked (unknown rollup, granularity, metric). */
export class QueryError extends BatchflowError {
  override name = 'QueryError';
}

export interface RollupQuery {
  readonly granularity: string;
  /** Dimensions to group by; the rollup with exactly these answers. [] = the total. */
  readonly by: readonly string[];
  /** @default every metric of the dataset */
  readonly metrics?: readonly string[];
  readonly from?: Date;
  readonly to?: Date;
}

/** One output row: a bucket, the group's dimension values, one metric's statistics. */
export type RollupRow = {
  bucketStart: string;
  metric: string;
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  avg: number | null;
  stddev: number | null;
  variance: number | null;
  median: number | null;
} & Record<string, string | number | null>;

/**
 * Answers a query from the rollup whose dimensions are exactly `by`, re-bucketed to any multiple of
 * the dataset's base granularity and merged in SQL (no rescan of raw data). Sample variance and
 * stddev (n − 1, null below 2 values); median from the merged sketch (≤ 1% relative error).
 */
export async function queryRollups(db: Db, dataset: DatasetDefinition, q: RollupQuery): Promise<RollupRow[]> {
  const base = parseGranularity(dataset.granularity);
  let g;
  try {
    g = parseGranularity(q.granularity);
  } catch (err) {
    throw new QueryError(`--granularity: ${(err as Error).message}`);
  }
  if (!isMultipleOf(g, base)) {
    throw new QueryError(`--granularity ${g.label} is not a multiple of dataset "${dataset.name}"'s base granularity ${base.label}`);
  }
  for (const d of q.by) {
    if (!dataset.dimensions.includes(d)) throw new QueryError(`--by: "${d}" is not a dimension of "${dataset.name}" (${dataset.dimensions.join(', ') || 'none'})`);
  }
  const wanted = new Set(q.by);
  const rollup = dataset.rollups.find((r) => r.length === wanted.size && r.every((d) => wanted.has(d)));
  if (!rollup) {
    const have = dataset.rollups.map((r) => `[${r.join(',')}]`).join(' ');
    throw new QueryError(`dataset "${dataset.name}" has no rollup by [${q.by.join(',')}]; its rollups are ${have}`);
  }
  const metrics = q.metrics && q.metrics.length > 0 ? q.metrics : dataset.metrics;
  for (const m of metrics) {
    if (!dataset.metrics.includes(m)) throw new QueryError(`--metrics: "${m}" is not a metric of "${dataset.name}" (${dataset.metrics.join(', ')})`);
  }
  const cells = await readRollup(db, {
    dataset: dataset.name,
    rollup: rollupKey(rollup),
    metrics,
    strideMs: g.ms,
    originIso: new Date(BUCKET_ORIGIN_MS).toISOString(),
    from: q.from,
    to: q.to,
  });
  return cells.map((c) => {
    const row: Record<string, string | number | null> = { bucketStart: c.bucketStart.toISOString() };
    rollup.forEach((d, i) => (row[d] = c.dims[i]));
    const n = c.count;
    const variance = n >= 2 ? Math.max(0, c.m2) / (n - 1) : null;
    Object.assign(row, {
      metric: c.metric,
      count: n,
      sum: n > 0 ? c.sum : null,
      min: c.min,
      max: c.max,
      avg: n > 0 ? c.mean : null,
      stddev: variance === null ? null : Math.sqrt(variance),
      variance,
      median: n > 0 ? sketchQuantile(c.sketch, 0.5) : null,
    });
    return row as RollupRow;
  });
}
