import { rollupKey, type DatasetDefinition } from './definition.ts';

/** What replacing a dataset's definition does to the aggregates already stored under it. */
export interface DefinitionChange {
  /** Changes that would make stored aggregates wrong or unreachable: refused once data is loaded. */
  readonly refused: readonly string[];
  /** Changes that apply to data loaded from now on, and leave what is stored as it is. */
  readonly newDataOnly: readonly string[];
}

/**
 * Compares a stored definition with its replacement. Stored aggregates are keyed by bucket width,
 * rollup (its dimension names) and metric, and rollup keys list dimensions in the definition's
 * order, so a new granularity, a removed or reordered dimension, a removed metric or a removed
 * rollup would leave them mis-bucketed, orphaned or mixed with differently shaped new ones. An
 * added dimension, metric or rollup only shapes new data (old buckets have no values for it). How
 * files are read (format, time column and format, dialect options) changes nothing stored.
 *
 * @example
 * definitionChange(old, { ...old, granularity: '1-day' }).refused
 * // → ['granularity 1-hour → 1-day: stored buckets are 1-hour wide and would mix with 1-day ones']
 */
export function definitionChange(previous: DatasetDefinition, next: DatasetDefinition): DefinitionChange {
  const refused: string[] = [];
  const newDataOnly: string[] = [];
  if (previous.granularity !== next.granularity) {
    refused.push(`granularity ${previous.granularity} → ${next.granularity}: stored buckets are ${previous.granularity} wide and would mix with ${next.granularity} ones`);
  }
  const removedDimensions = previous.dimensions.filter((d) => !next.dimensions.includes(d));
  if (removedDimensions.length > 0) refused.push(`dimension(s) ${quoted(removedDimensions)} removed: the rollups grouped by them would be orphaned`);
  const kept = next.dimensions.filter((d) => previous.dimensions.includes(d));
  const keptBefore = previous.dimensions.filter((d) => next.dimensions.includes(d));
  if (kept.join('\0') !== keptBefore.join('\0')) {
    refused.push(`dimensions reordered (${quoted(keptBefore)} → ${quoted(kept)}): rollups are stored under their dimensions in definition order`);
  }
  const addedDimensions = next.dimensions.filter((d) => !previous.dimensions.includes(d));
  if (addedDimensions.length > 0) newDataOnly.push(`dimension(s) ${quoted(addedDimensions)} added`);
  const removedMetrics = previous.metrics.filter((m) => !next.metrics.includes(m));
  if (removedMetrics.length > 0) refused.push(`metric(s) ${quoted(removedMetrics)} removed: their stored aggregates would no longer be queryable`);
  const addedMetrics = next.metrics.filter((m) => !previous.metrics.includes(m));
  if (addedMetrics.length > 0) newDataOnly.push(`metric(s) ${quoted(addedMetrics)} added: stored buckets have no values for them`);
  const previousRollups = previous.rollups.map(rollupKey);
  const nextRollups = next.rollups.map(rollupKey);
  const removedRollups = previousRollups.filter((r) => !nextRollups.includes(r));
  if (removedRollups.length > 0) refused.push(`rollup(s) ${removedRollups.map((r) => `[${r}]`).join(' ')} removed: their stored aggregates would be orphaned`);
  const addedRollups = nextRollups.filter((r) => !previousRollups.includes(r));
  if (addedRollups.length > 0) newDataOnly.push(`rollup(s) ${addedRollups.map((r) => `[${r}]`).join(' ')} added: they hold only data loaded from now on`);
  return { refused, newDataOnly };
}

const quoted = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ');
