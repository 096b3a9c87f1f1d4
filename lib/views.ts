import type { ResultRow } from './analytics/results.ts';
import type { IngestJob } from './store/ingestJobs.ts';

/**
 * The JSON shapes batchflow shows outside itself: the CLI's `--json` and the HTTP API print the
 * same ones, so a script can move from one to the other.
 */

/** A job in a list: `status --json`, `upload --wait --json` and `GET /jobs`. */
export interface IngestJobSummary {
  readonly jobId: number;
  readonly status: IngestJob['status'];
  readonly reason?: string;
  readonly records: number;
  readonly rejected: number;
  /** Values counted as missing (onInvalidValue "null") per column, present when any were. */
  readonly valuesNulled?: Readonly<Record<string, number>>;
  readonly partitions: number;
  /** Partitions that failed (present when any did): `batchflow retry` re-sends them. */
  readonly partitionsFailed?: number;
  readonly durationMs: number;
  readonly recordsPerSecond: number;
}

/**
 * A page of an HTTP API list route: `items` in the route's order, and `nextCursor` to pass back as
 * `?cursor=` for the next page — null on the last one.
 */
export interface PageJson<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | null;
}

/** The summary of a job; one still running is measured up to now. */
export function summarize(job: IngestJob): IngestJobSummary {
  const durationMs = (job.finishedAt ?? new Date()).getTime() - job.createdAt.getTime();
  return {
    jobId: job.jobId,
    status: job.status,
    ...(job.reason ? { reason: job.reason } : {}),
    records: job.recordsRead,
    rejected: job.recordsRejected,
    ...(Object.keys(job.valuesNulled).length > 0 ? { valuesNulled: job.valuesNulled } : {}),
    partitions: job.partitionsTotal ?? 0,
    ...(job.partitionsFailed > 0 ? { partitionsFailed: job.partitionsFailed } : {}),
    durationMs: Math.round(durationMs),
    recordsPerSecond: durationMs > 0 ? Math.round((job.recordsRead * 1000) / durationMs) : 0,
  };
}

/** A results row: `results --json`, `jobs run --json` and `GET /analytics/jobs/{name}/results`. */
export function resultJson(r: ResultRow) {
  return {
    job: r.job,
    windowStart: r.windowStart.toISOString(),
    windowEnd: r.windowEnd.toISOString(),
    entity: r.entity,
    metric: r.metric,
    aggregation: r.aggregation,
    value: r.value,
  };
}
