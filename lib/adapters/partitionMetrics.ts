import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PartitionOutcome } from '../process/processPartition.ts';
import { signals, type SignalName } from '../tune/signals.ts';

/** Adds one signal's value to the invocation's EMF metrics, by its catalogue name and unit. */
export function addSignal(metrics: Metrics, name: SignalName, value: number): void {
  const spec = signals[name];
  metrics.addMetric(spec.metricName, MetricUnit[spec.unit], value);
}

/**
 * Adds a merged partition's measurements to the invocation's metrics, its time split into pre (read
 * from S3), pure (parse and aggregate) and post (database merge) work, so the tuner can tell which
 * one bounds a partition. A duplicate adds nothing: it did no work.
 */
export function addPartitionMetrics(metrics: Metrics, outcome: PartitionOutcome): void {
  const s = outcome.stats;
  if (!s) return;
  addSignal(metrics, 'recordsProcessed', s.recordsAggregated);
  addSignal(metrics, 'recordsRejected', s.recordsRejected);
  addSignal(metrics, 'bytesRead', s.bytesRead);
  addSignal(metrics, 'partitionMs', s.partitionMs);
  addSignal(metrics, 'parseMs', s.parseMs);
  addSignal(metrics, 'mergeMs', s.mergeMs);
  addSignal(metrics, 'lockWaitMs', s.lockWaitMs);
  addSignal(metrics, 'rowsMerged', s.rowsMerged);
}
