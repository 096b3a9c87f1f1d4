import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PartitionOutcome } from '../process/processPartition.ts';
import { signals, type SignalName } from '../tune/signals.ts';

/** Adds one signal's value to the invocation's EMF metrics, by its catalogue name and unit. */
export function addSignal(metrics: Metrics, name: SignalName, value: number): void {
  const spec = signals[name];
  metrics.addMetric(spec.metricName, MetricUnit[spec.unit], value);
}

/**
 * Adds a merged partition's measurements to the invocation's metrics: the pre / pure / post split of
 * seed 004 as read (S3), parse+aggregate and database time. A duplicate adds nothing: it did no work.
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

// Postgres SQLSTATEs of a database that refuses connections: too_many_connections,
// cannot_connect_now, and the connection_exception class.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
const CONNECTION_STATES = new Set(['53300', '57P03', '08000', '08001', '08003', '08004', '08006']);
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/** Whether a failure means the database could not be reached or refused a connection. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (CONNECTION_STATES.has(code) || CONNECTION_ERRNOS.has(code));
}
