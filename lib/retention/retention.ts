import type { Db } from '../store/db.ts';
import { deleteExpired, type ExpiredKind } from '../store/retention.ts';

/**
 * How long batchflow keeps each kind of history, in days. Aggregates (rollups), dataset and analytics
 * definitions, analytics results and the tuner's history are kept until deleted by a user.
 */
export interface RetentionPolicy {
  /** performance_metrics rows (per-partition timings and counts), by when they were recorded. */
  readonly performanceMetrics: number;
  /** rejected_records of jobs that finished this long ago (the job keeps its reject count). */
  readonly rejectedRecords: number;
  /** analytics_runs (the run log; results stay), by when the run started. */
  readonly analyticsRuns: number;
  /**
   * Finished ingestion jobs (with their partitions, rejects and metrics), by when they finished.
   * Longer than any S3 notification can be redelivered (SQS keeps a message 14 days at most), so
   * the one-job-per-object-version guard outlives every duplicate notification.
   */
  readonly finishedJobs: number;
  /** resource_usage rows (one per function invocation), by when the invocation started. */
  readonly resourceUsage: number;
}

/** The retention the stack applies: a month of metrics and resource usage, a quarter of rejects and runs, over a year of jobs. */
export const DEFAULT_RETENTION: RetentionPolicy = { performanceMetrics: 30, rejectedRecords: 90, analyticsRuns: 90, finishedJobs: 400, resourceUsage: 30 };

/** What one retention pass deleted, per kind, and whether it stopped at its deadline with more to do. */
export interface RetentionReport {
  readonly deleted: Record<ExpiredKind, number>;
  readonly complete: boolean;
}

const DAY_MS = 86_400_000;
/** Rows per delete statement: short transactions, so processors and queries never wait long. */
export const RETENTION_BATCH = 5_000;

/**
 * Deletes what is past its retention, oldest kinds first, in batches of RETENTION_BATCH rows until
 * none is left or `deadlineMs` (a Date.now() value) passes; the next pass goes on from there.
 * Idempotent: a second pass at the same `now` deletes nothing.
 */
export async function runRetention(
  db: Db,
  options: { readonly now?: Date; readonly policy?: RetentionPolicy; readonly deadlineMs?: number; readonly batch?: number } = {},
): Promise<RetentionReport> {
  const now = options.now ?? new Date();
  const policy = options.policy ?? DEFAULT_RETENTION;
  const batch = options.batch ?? RETENTION_BATCH;
  const cutoff = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const kinds: [ExpiredKind, Date][] = [
    ['performanceMetrics', cutoff(policy.performanceMetrics)],
    ['rejectedRecords', cutoff(policy.rejectedRecords)],
    ['analyticsRuns', cutoff(policy.analyticsRuns)],
    ['finishedJobs', cutoff(policy.finishedJobs)],
    ['resourceUsage', cutoff(policy.resourceUsage)],
  ];
  const deleted: Record<ExpiredKind, number> = { performanceMetrics: 0, rejectedRecords: 0, analyticsRuns: 0, finishedJobs: 0, resourceUsage: 0 };
  for (const [kind, before] of kinds) {
    for (;;) {
      if (options.deadlineMs !== undefined && Date.now() >= options.deadlineMs) return { deleted, complete: false };
      const count = await deleteExpired(db, kind, before, batch);
      deleted[kind] += count;
      if (count < batch) break;
    }
  }
  return { deleted, complete: true };
}
