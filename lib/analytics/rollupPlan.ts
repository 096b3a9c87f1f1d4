import { rollupKey, type DatasetDefinition } from '../datasets/definition.ts';
import type { CellStatistics } from '../rollup/aggregator.ts';
import { isMultipleOf, parseGranularity } from '../rollup/granularity.ts';
import { sketchQuantile } from '../rollup/sketch.ts';
import { filterDimensions, parseFilter, type FilterExpr } from './filter.ts';
import { JobDefinitionError, type Aggregation, type AnalyticsJobDefinition } from './jobDefinition.ts';

// An analytics job's plan: which ingestion rollup answers it (chosen once per run), and how the
// window cells merged from that rollup become the job's aggregations.

/**
 * One entity's merged statistics for one metric over a time window: what the store's readWindow
 * merges from the rollups and `aggregate` turns into results.
 */
export interface WindowCell extends Readonly<CellStatistics> {
  readonly entity: string;
  readonly metric: string;
}

/** How a job is answered from the ingestion rollups, decided once per run. */
export interface AnalyticsJobPlan {
  readonly job: AnalyticsJobDefinition;
  /** The smallest rollup holding the entity and every filtered dimension. */
  readonly rollup: readonly string[];
  readonly rollupKey: string;
  /** Position of the entity in the rollup's dims (null: totals). */
  readonly entityIndex: number | null;
  readonly filter: FilterExpr | null;
  readonly granularityMs: number;
}

/**
 * Checks a job against its dataset — metrics, entity, filter dimensions, granularity — and picks
 * the rollup that answers it by merging (never rescanning raw data). Throws JobDefinitionError
 * naming each field at fault.
 */
export function planAnalyticsJob(job: AnalyticsJobDefinition, dataset: DatasetDefinition): AnalyticsJobPlan {
  const problems: string[] = [];
  if (job.dataset !== dataset.name) problems.push(`dataset: "${job.dataset}" is not "${dataset.name}"`);
  job.metrics.forEach((m, i) => {
    if (!dataset.metrics.includes(m.metric)) problems.push(`metrics[${i}].metric: "${m.metric}" is not a metric of "${dataset.name}" (${dataset.metrics.join(', ')})`);
  });
  if (job.entity !== null && !dataset.dimensions.includes(job.entity)) {
    problems.push(`entity: "${job.entity}" is not a dimension of "${dataset.name}" (${dataset.dimensions.join(', ') || 'none'})`);
  }
  let filter: FilterExpr | null = null;
  if (job.filter !== null) {
    try {
      filter = parseFilter(job.filter);
      for (const d of filterDimensions(filter)) {
        if (!dataset.dimensions.includes(d)) problems.push(`filter: "${d}" is not a dimension of "${dataset.name}"`);
      }
    } catch (err) {
      // FilterError messages already start with "filter:".
      problems.push((err as Error).message);
    }
  }
  const granularity = parseGranularity(job.granularity);
  if (!isMultipleOf(granularity, parseGranularity(dataset.granularity))) {
    problems.push(`granularity: ${job.granularity} is not a multiple of dataset "${dataset.name}"'s ${dataset.granularity}`);
  }
  const needed = new Set([...(job.entity ? [job.entity] : []), ...(filter ? filterDimensions(filter) : [])]);
  const candidates = dataset.rollups.filter((r) => [...needed].every((d) => r.includes(d))).sort((a, b) => a.length - b.length);
  if (problems.length === 0 && candidates.length === 0) {
    problems.push(
      `entity/filter: dataset "${dataset.name}" has no rollup containing [${[...needed].join(',')}] (its rollups: ${dataset.rollups.map((r) => `[${r.join(',')}]`).join(' ')}); add one to the dataset`,
    );
  }
  if (problems.length > 0) throw new JobDefinitionError(problems);
  const rollup = candidates[0];
  return {
    job,
    rollup,
    rollupKey: rollupKey(rollup),
    entityIndex: job.entity === null ? null : rollup.indexOf(job.entity),
    filter,
    granularityMs: granularity.ms,
  };
}

/** One aggregation of a merged window cell (null where undefined: no values, or std/var below 2). */
export function aggregate(cell: WindowCell, aggregation: Aggregation): number | null {
  const n = cell.count;
  const variance = n >= 2 ? Math.max(0, cell.m2) / (n - 1) : null;
  switch (aggregation) {
    case 'count':
      return n;
    case 'sum':
      return n > 0 ? cell.sum : null;
    case 'avg':
      return n > 0 ? cell.mean : null;
    case 'min':
      return cell.min;
    case 'max':
      return cell.max;
    case 'var':
      return variance;
    case 'std':
      return variance === null ? null : Math.sqrt(variance);
    case 'median':
      return n > 0 ? sketchQuantile(cell.sketch, 0.5) : null;
  }
}
