import type { Db, Tx } from './db.ts';
import { finishIngestJobIfDone, getIngestJob, type IngestJob, type IngestJobStatus } from './ingestJobs.ts';

// The state changes behind `batchflow stop`, `restart` and `retry` (lib/recovery): each one
// transaction, locking partition rows before the job row, as merges do, so none can deadlock with a
// merge in flight.

/** Why a recovery step was refused: the job or partition is unknown, or its state does not allow it. */
export type Refusal = { readonly refused: 'not-found' | 'conflict'; readonly message: string };

/** Partitions put back to pending and unsent, for the caller to send. */
export type Reopened = { readonly refused?: undefined; readonly job: IngestJob; readonly idxs: readonly number[] };

const STOPPABLE: readonly IngestJobStatus[] = ['splitting', 'processing'];
const RESTARTABLE: readonly IngestJobStatus[] = ['failed', 'stopped', 'completed_with_failures'];

/**
 * Stops a splitting or processing job: it ends `stopped` now, with the counts of what has merged;
 * processors skip its pending partitions from here on (a merge already under way still counts, and
 * is counted).
 */
export async function stopJob(db: Db, jobId: number): Promise<Refusal | { readonly refused?: undefined; readonly job: IngestJob }> {
  const [row] = await db.sql`
    update ${db.table('batch_jobs')} set status = 'stopped', reason = 'stopped by a user (batchflow stop)', finished_at = clock_timestamp()
    where job_id = ${jobId} and status in ${db.sql(STOPPABLE as string[])} returning job_id`;
  const job = await getIngestJob(db, jobId);
  if (!job) return { refused: 'not-found', message: `no job ${jobId}` };
  if (!row) return { refused: 'conflict', message: `job ${jobId} is ${job.status}: only a splitting or processing job can be stopped` };
  return { job };
}

/**
 * Reopens a failed, stopped or completed-with-failures job: every partition not completed goes back
 * to pending and unsent, the failure count to 0, the job to processing. A job that failed on its
 * reject threshold re-runs every partition, from zero counts (restartedFromScratch). A job that
 * failed before its partitions were recorded (a bad header, an unknown dataset, its sample's
 * rejects) has nothing to re-run.
 */
export async function reopenForRestart(db: Db, jobId: number): Promise<Refusal | Reopened> {
  const before = await getIngestJob(db, jobId);
  if (!before) return { refused: 'not-found', message: `no job ${jobId}` };
  if (!RESTARTABLE.includes(before.status)) {
    return { refused: 'conflict', message: `job ${jobId} is ${before.status}: only a failed, stopped or completed_with_failures job can be restarted` };
  }
  if (before.partitionsTotal === null) {
    return {
      refused: 'conflict',
      message: `job ${jobId} failed before its partitions were recorded (${before.reason ?? 'no reason'}): fix the cause and upload the object again (a new version gets a new job)`,
    };
  }
  // A job failed on its reject threshold has no partial rows left: all of it runs again, from zero.
  const fromScratch = before.failedOnRejects;
  return db.sql.begin(async (tx) => {
    const rows = await tx<{ idx: number }[]>`
      update ${db.table('batch_partitions')} set status = 'pending', enqueued_at = null
      where job_id = ${jobId} and ${fromScratch ? tx`true` : tx`status <> 'completed'`} returning idx`;
    const [reopened] = await tx`
      update ${db.table('batch_jobs')} set status = 'processing', partitions_failed = 0, reason = null, finished_at = null
        ${fromScratch ? restartedFromScratch(tx, db) : tx``}
      where job_id = ${jobId} and status in ${tx(RESTARTABLE as string[])} and failed_on_rejects = ${fromScratch} returning job_id`;
    // Changed under us (another restart, a retry): nothing is applied.
    if (!reopened) throw new ConcurrentChange(jobId);
    if (fromScratch) await tx`delete from ${db.table('rejected_records')} where job_id = ${jobId}`;
    await finishIngestJobIfDone(tx, db, jobId);
    return rows.map((r) => r.idx);
  }).then(
    async (idxs): Promise<Reopened> => ({ job: (await getIngestJob(db, jobId))!, idxs: idxs.sort((a, b) => a - b) }),
    (err: unknown) => {
      if (err instanceof ConcurrentChange) return { refused: 'conflict', message: err.message } as const;
      throw err;
    },
  );
}

/**
 * The assignments that zero a job failed on its reject threshold for a run from scratch: its
 * counts (its partial rows were deleted when it failed), and its threshold taken from the dataset
 * again, so a restart after raising maxRejectedPercent applies the new one. That threshold is the
 * one thing a restart takes anew: its partitions still parse and aggregate with the job's
 * definition snapshot (batch_jobs.definition), which keeps the maxRejectedPercent it opened with.
 */
function restartedFromScratch(tx: Tx, db: Db) {
  return tx`,
    partitions_done = 0, records_read = 0, records_aggregated = 0, records_rejected = 0, bytes_read = 0,
    read_ms = 0, parse_ms = 0, merge_ms = 0, failed_on_rejects = false,
    max_rejected_percent = (select (d.definition ->> 'maxRejectedPercent')::float8 from ${db.table('datasets')} d where d.name = dataset)`;
}

/**
 * Puts a job's failed partitions (or the one given, which must be failed) back to pending and
 * unsent, and the job back to processing if it had ended on them. A stopped job is restarted
 * instead; a completed partition is never re-run (it would not merge twice, but nothing is wrong with it).
 */
export async function reopenForRetry(db: Db, jobId: number, idx?: number): Promise<Refusal | Reopened> {
  const before = await getIngestJob(db, jobId);
  if (!before) return { refused: 'not-found', message: `no job ${jobId}` };
  if (before.status === 'stopped') return { refused: 'conflict', message: `job ${jobId} is stopped: restart it (batchflow restart ${jobId}) to re-run its partitions` };
  if (before.failedOnRejects) {
    return { refused: 'conflict', message: `job ${jobId} failed on its reject threshold and nothing of it is in the rollups: restart it (batchflow restart ${jobId}) to re-run all its partitions` };
  }
  if (before.status === 'splitting' || before.partitionsTotal === null) {
    return { refused: 'conflict', message: `job ${jobId} is ${before.status} and has no recorded partitions to retry` };
  }
  if (idx !== undefined) {
    const [p] = await db.sql<{ status: string }[]>`select status from ${db.table('batch_partitions')} where job_id = ${jobId} and idx = ${idx}`;
    if (!p) return { refused: 'not-found', message: `no partition ${jobId}-${idx}` };
    if (p.status !== 'failed') return { refused: 'conflict', message: `partition ${jobId}-${idx} is ${p.status}: only a failed partition is retried` };
  }
  const { sql } = db;
  return sql.begin(async (tx) => {
    const rows = await tx<{ idx: number }[]>`
      update ${db.table('batch_partitions')} set status = 'pending', enqueued_at = null
      where job_id = ${jobId} and status = 'failed' ${idx === undefined ? tx`` : tx`and idx = ${idx}`} returning idx`;
    if (rows.length === 0) throw new ConcurrentChange(jobId, idx === undefined ? `job ${jobId} has no failed partitions` : undefined);
    await tx`
      update ${db.table('batch_jobs')} set
        partitions_failed = partitions_failed - ${rows.length},
        status = case when status in ('completed_with_failures', 'failed') then 'processing' else status end,
        reason = null, finished_at = null
      where job_id = ${jobId}`;
    return rows.map((r) => r.idx);
  }).then(
    async (idxs): Promise<Reopened> => ({ job: (await getIngestJob(db, jobId))!, idxs: idxs.sort((a, b) => a - b) }),
    (err: unknown) => {
      if (err instanceof ConcurrentChange) return { refused: 'conflict', message: err.message } as const;
      throw err;
    },
  );
}

/** Rolls a recovery transaction back when the state it checked changed before it applied. */
class ConcurrentChange extends Error {
  constructor(jobId: number, message?: string) {
    super(message ?? `job ${jobId} changed while this ran: look at it again (batchflow status ${jobId})`);
  }
}
