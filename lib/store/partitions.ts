import { PartitionNotRecordedError } from '../errors.ts';
import type { RejectedRecord } from '../parse/sink.ts';
import type { TextEncoding } from '../parse/transcode.ts';
import { storableText } from '../parse/values.ts';
import type { PartitionStats } from '../process/partitionStats.ts';
import type { PartitionPlan } from '../split/partitionPlan.ts';
import { markWindowsStale } from './analytics.ts';
import type { Db, Tx } from './db.ts';
import { finishIngestJobIfDone } from './ingestJobs.ts';
import { insertPerformanceMetrics } from './performance.ts';
import { insertRejects } from './rejects.ts';
import { partialWriter, type PartialSource, type PartialWriter } from './partials.ts';

// The `batch_partitions` table, and the two transactions that move a job through its partitions:
// the split records them, each processor completes one.

/** One byte range of an object, or one staged part (`batch_partitions`). */
export interface Partition {
  readonly jobId: number;
  readonly idx: number;
  readonly sourceKey: string;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  /** True for staged parts: the range holds whole records, no boundary search needed. */
  readonly exactRange: boolean;
  /** Parquet partitions: row groups [start, end) of the object; null for byte ranges. */
  readonly rowGroupStart: number | null;
  readonly rowGroupEnd: number | null;
  readonly status: PartitionStatus;
  readonly enqueuedAt: Date | null;
  /** Processor attempts started. */
  readonly attempts: number;
  /** The last failed attempt's error (kept when a later attempt succeeds, for the record). */
  readonly error: string | null;
  readonly startedAt: Date | null;
  readonly failedAt: Date | null;
}

/**
 * `pending`: sent, waiting for (another) attempt; `processing`: an attempt started; `completed`:
 * merged, exactly once; `failed`: its last allowed attempt failed, or nothing will try it again.
 */
export type PartitionStatus = 'pending' | 'processing' | 'completed' | 'failed';

/** A partition's error is cut here: it may quote the object's bytes. */
const MAX_ERROR_CHARS = 2000;

const partitionColumns = (db: Db) => db.sql`
  job_id as "jobId", idx, source_key as "sourceKey", range_start as "rangeStart",
  range_end as "rangeEnd", exact_range as "exactRange", row_group_start as "rowGroupStart",
  row_group_end as "rowGroupEnd", status, enqueued_at as "enqueuedAt",
  attempts, error, started_at as "startedAt", failed_at as "failedAt"`;

/**
 * Records the split: the object's layout and every partition, in one transaction, and moves the
 * job to `processing` (or straight to `completed` when there is nothing to process).
 */
export async function recordSplit(
  db: Db,
  jobId: number,
  split: {
    format: 'csv' | 'ndjson' | 'parquet';
    compression: 'none' | 'gzip';
    columns: readonly string[];
    headerLines: number;
    dataStart: number;
    /** @default 'lf' */
    lineEnd?: 'lf' | 'cr';
    splitMs: number;
    partitions: readonly PartitionPlan[];
    /** @default 'utf-8' */
    encoding?: TextEncoding;
    /** The dataset's threshold; @default null (none) */
    maxRejectedPercent?: number | null;
  },
): Promise<void> {
  await db.sql.begin(async (tx) => {
    if (split.partitions.length > 0) {
      // One array per column, so 8 parameters however many partitions: a row per partition of
      // `${tx(rows)}` took 8 each, and Postgres' protocol caps a statement at 65,535 (postgres.js
      // refuses more), so objects over 8,191 partitions could not be split.
      // https://www.postgresql.org/docs/current/protocol-message-formats.html (Bind: Int16 count)
      const ps = split.partitions;
      await tx`
        insert into ${db.table('batch_partitions')} (job_id, idx, source_key, range_start, range_end, exact_range, row_group_start, row_group_end)
        select ${jobId}, * from unnest(
          ${ps.map((p) => p.idx)}::int[], ${ps.map((p) => p.sourceKey)}::text[], ${ps.map((p) => p.rangeStart)}::bigint[],
          ${ps.map((p) => p.rangeEnd)}::bigint[],
          -- As text: postgres.js types a JS array of booleans as a scalar boolean, and nulls need a type.
          ${ps.map((p) => String(p.exactRange))}::text[]::boolean[],
          ${ps.map((p) => (p.rowGroups ? String(p.rowGroups.start) : null))}::text[]::int[],
          ${ps.map((p) => (p.rowGroups ? String(p.rowGroups.end) : null))}::text[]::int[])
        on conflict (job_id, idx) do nothing`;
    }
    await tx`
      update ${db.table('batch_jobs')} set
        format = ${split.format}, compression = ${split.compression}, columns = ${split.columns as string[]},
        header_lines = ${split.headerLines}, data_start = ${split.dataStart}, line_end = ${split.lineEnd ?? 'lf'},
        partitions_total = ${split.partitions.length}, split_ms = ${split.splitMs},
        encoding = ${split.encoding ?? 'utf-8'}, max_rejected_percent = ${split.maxRejectedPercent ?? null},
        split_finished_at = clock_timestamp(), status = case when status = 'splitting' then 'processing' else status end
      -- A job stopped while splitting still records its layout and partitions, so restart can re-send them.
      where job_id = ${jobId} and status in ('splitting', 'stopped') and partitions_total is null`;
    await finishIngestJobIfDone(tx, db, jobId);
  });
}

/** Partitions recorded but not yet known to be in the queue. */
export async function unsentPartitions(db: Db, jobId: number): Promise<Partition[]> {
  return db.sql<Partition[]>`
    select ${partitionColumns(db)} from ${db.table('batch_partitions')}
    where job_id = ${jobId} and enqueued_at is null and status = 'pending' order by idx`;
}

/** Notes that these partitions' messages were accepted by SQS. */
export async function markEnqueued(db: Db, jobId: number, idxs: readonly number[]): Promise<void> {
  if (idxs.length === 0) return;
  await db.sql`
    update ${db.table('batch_partitions')} set enqueued_at = clock_timestamp()
    where job_id = ${jobId} and idx = any(${idxs as number[]}::int[])`;
}

/** A partition by job and index. */
export async function getPartition(db: Db, jobId: number, idx: number): Promise<Partition | undefined> {
  const [p] = await db.sql<Partition[]>`
    select ${partitionColumns(db)} from ${db.table('batch_partitions')} where job_id = ${jobId} and idx = ${idx}`;
  return p;
}

/** What a partition's merge transaction did and how long its parts took. */
export interface MergeOutcome {
  /** false: the partition was already complete (a duplicate message), or its job failed on its reject threshold; nothing was counted. */
  readonly merged: boolean;
  /** Writing partial rows plus the completing statements up to the commit (parsing excluded). */
  readonly mergeMs: number;
  /** Waiting for the partition's row lock. */
  readonly lockWaitMs: number;
  /** Partial rows appended. */
  readonly rowsMerged: number;
  /** This commit ended the partition's job (its last unfinished partition). */
  readonly jobFinished: boolean;
}

/** What a partition produced besides its partial rows: everything completePartition records. */
export interface PartitionResult {
  readonly rejects: readonly RejectedRecord[];
  readonly stats: Omit<PartitionStats, 'mergeMs'>;
  /** The time range the partial rows cover, [from, to): analytics windows it overlaps become stale. */
  readonly dataRange: { from: Date; to: Date } | null;
}

/** Thrown inside the transaction to roll back a duplicate's partial rows. */
class AlreadyMerged extends Error {
  constructor(readonly lockWaitMs: number) {
    super('partition already merged');
  }
}

/**
 * Merges one partition's results exactly once, in a single transaction: `produce` parses the
 * partition and appends its partial rows through the writer it is given (as often as its memory
 * budget needs); then the partition row is locked and, if it is already completed (a redelivered
 * or concurrently duplicated message), everything rolls back. Otherwise the rejects are stored,
 * the analytics windows the data touches marked stale (late data), the partition marked completed
 * and its counts added to the job — finishing the job when it was the last partition — and its
 * measurements stored in `performance_metrics`. Appending takes no row lock; the rest locks the
 * partition row, analytics windows (sorted), then the job row, the same in every transaction,
 * hence no deadlock.
 */
export async function completePartition(
  db: Db,
  source: PartialSource,
  produce: (partials: PartialWriter) => Promise<PartitionResult>,
): Promise<MergeOutcome> {
  try {
    return await db.sql.begin(async (tx) => {
      const writer = partialWriter(tx, db, source);
      let writeMs = 0;
      let rowsMerged = 0;
      const result = await produce({
        async write(groups) {
          const t = performance.now();
          const n = await writer.write(groups);
          writeMs += performance.now() - t;
          rowsMerged += n;
          return n;
        },
      });
      const started = performance.now();
      const [partition] = await tx`
        select p.status, j.failed_on_rejects as "failedOnRejects" from ${db.table('batch_partitions')} p join ${db.table('batch_jobs')} j using (job_id)
        where p.job_id = ${source.jobId} and p.idx = ${source.idx} for update of p`;
      // A round trip, plus any wait for a duplicate of this message that holds the partition.
      const lockWaitMs = performance.now() - started;
      if (!partition) throw new PartitionNotRecordedError(`partition ${source.jobId}/${source.idx} is not recorded`);
      if (partition.status === 'completed') throw new AlreadyMerged(lockWaitMs);
      // Its job failed on its reject threshold while this attempt ran (the watchdog had given the
      // partition up): its rows would be the only ones of the job in the rollups. Rolled back.
      if (partition.failedOnRejects) throw new AlreadyMerged(lockWaitMs);
      // Marked failed while this attempt ran (the watchdog gave up on it): it merges after all, so
      // the job counts it done instead, and reopens if it had ended on that failure.
      const wasFailed = partition.status === 'failed';

      await insertRejects(tx, db, source.jobId, source.idx, result.rejects);
      if (result.dataRange) await markWindowsStale(tx, db, source.dataset, result.dataRange.from, result.dataRange.to);
      const mergeMs = writeMs + performance.now() - started;
      const s = result.stats;
      const measured = { recordsRead: s.recordsRead, recordsRejected: s.recordsRejected, bytesRead: s.bytesRead, readMs: s.readMs, parseMs: s.parseMs, mergeMs, lockWaitMs, rowsMerged };
      await insertPerformanceMetrics(
        tx,
        db,
        Object.entries(measured).map(([name, value]) => ({ component: 'processor', name, value, jobId: source.jobId, partitionIdx: source.idx })),
      );
      await tx`
        update ${db.table('batch_partitions')} set
          status = 'completed', completed_at = clock_timestamp(), failed_at = null, records_read = ${s.recordsRead},
          records_aggregated = ${s.recordsAggregated}, records_rejected = ${s.recordsRejected},
          lines = ${s.lines}, bytes_read = ${s.bytesRead}, read_ms = ${s.readMs}, parse_ms = ${s.parseMs},
          merge_ms = ${mergeMs}, data_min = ${result.dataRange?.from ?? null}, data_max = ${result.dataRange?.to ?? null},
          values_nulled = ${tx.json((s.valuesNulled ?? {}) as never)}
        where job_id = ${source.jobId} and idx = ${source.idx}`;
      await tx`
        update ${db.table('batch_jobs')} set
          partitions_done = partitions_done + 1,
          partitions_failed = partitions_failed - ${wasFailed ? 1 : 0},
          ${wasFailed ? reopened(tx) : tx``}
          records_read = records_read + ${s.recordsRead},
          records_aggregated = records_aggregated + ${s.recordsAggregated},
          records_rejected = records_rejected + ${s.recordsRejected},
          bytes_read = bytes_read + ${s.bytesRead},
          read_ms = read_ms + ${s.readMs}, parse_ms = parse_ms + ${s.parseMs}, merge_ms = merge_ms + ${mergeMs}
          ${s.valuesNulled === undefined ? tx`` : tx`, values_nulled = ${addNulled(tx, s.valuesNulled)}`}
        where job_id = ${source.jobId}`;
      const jobFinished = await finishIngestJobIfDone(tx, db, source.jobId);
      return { merged: true, mergeMs, lockWaitMs, rowsMerged, jobFinished };
    });
  } catch (err) {
    if (err instanceof AlreadyMerged) return { merged: false, mergeMs: 0, lockWaitMs: err.lockWaitMs, rowsMerged: 0, jobFinished: false };
    throw err;
  }
}

/** The job's values_nulled plus a partition's, column by column. */
function addNulled(tx: Tx, nulled: Readonly<Record<string, number>>) {
  return tx`(
    select coalesce(jsonb_object_agg(k, n), '{}'::jsonb) from (
      select k, sum(v::bigint) as n
      from (select * from jsonb_each_text(values_nulled) union all select * from jsonb_each_text(${tx.json(nulled as never)}::jsonb)) as both_(k, v)
      group by k
    ) as summed)`;
}

/** The assignments that reopen a job which had ended on failed partitions (one of them now merges or retries). */
function reopened(tx: Tx) {
  // Not a job failed on its reject threshold: only restart re-runs it, from scratch.
  const ended = tx`status in ('completed_with_failures', 'failed') and partitions_total is not null and not failed_on_rejects`;
  return tx`
    status = case when ${ended} then 'processing' else status end,
    finished_at = case when ${ended} then null else finished_at end,
    reason = case when ${ended} then null else reason end,`;
}

/** What the start of an attempt found. */
export type AttemptStart =
  | { readonly kind: 'started'; readonly attempts: number }
  /** Already merged: a redelivery. */
  | { readonly kind: 'duplicate' }
  /** Its job was stopped: the partition is skipped and stays pending (restart re-sends it). */
  | { readonly kind: 'stopped' }
  /** Its job failed on its reject threshold: skipped (a redriven message); restart re-runs the job. */
  | { readonly kind: 'failedOnRejects' };

/**
 * Starts an attempt on a partition: `processing`, one more attempt, now. A partition that had
 * failed (its message redriven from the DLQ) takes part again, and its job reopens if it had ended
 * on failures. Lock order as in completePartition: partition row, then job row.
 */
export async function beginAttempt(db: Db, jobId: number, idx: number): Promise<AttemptStart> {
  return db.sql.begin(async (tx) => {
    const [row] = await tx<{ status: PartitionStatus; jobStatus: string; failedOnRejects: boolean }[]>`
      select p.status, j.status as "jobStatus", j.failed_on_rejects as "failedOnRejects"
      from ${db.table('batch_partitions')} p join ${db.table('batch_jobs')} j using (job_id)
      where p.job_id = ${jobId} and p.idx = ${idx} for update of p`;
    if (!row) throw new PartitionNotRecordedError(`partition ${jobId}/${idx} is not recorded`);
    if (row.status === 'completed') return { kind: 'duplicate' } as const;
    if (row.jobStatus === 'stopped') return { kind: 'stopped' } as const;
    if (row.failedOnRejects) return { kind: 'failedOnRejects' } as const;
    if (row.status === 'failed') {
      await tx`update ${db.table('batch_jobs')} set ${reopened(tx)} partitions_failed = partitions_failed - 1 where job_id = ${jobId}`;
    }
    const [started] = await tx<{ attempts: number }[]>`
      update ${db.table('batch_partitions')} set status = 'processing', attempts = attempts + 1, started_at = clock_timestamp(), failed_at = null
      where job_id = ${jobId} and idx = ${idx} returning attempts`;
    return { kind: 'started', attempts: started!.attempts } as const;
  });
}

/**
 * An attempt that failed but will be retried (SQS redelivers the message): the partition goes back
 * to `pending` with the error, for `status` to show.
 */
export async function releaseAttempt(db: Db, jobId: number, idx: number, error: string): Promise<void> {
  await db.sql`
    update ${db.table('batch_partitions')} set status = 'pending', error = ${storableText(error, MAX_ERROR_CHARS)}
    where job_id = ${jobId} and idx = ${idx} and status = 'processing'`;
}

/**
 * Marks a partition failed with its error — its last allowed attempt failed, its object version is
 * gone, or the watchdog found that nothing will try it again — and ends its job when that was the
 * last unfinished partition. A partition already completed or failed is left as it is; returns
 * whether this call failed it. `onlyIf.attempts` guards the watchdog's decision against an attempt
 * that started after it looked.
 */
export async function failPartition(
  db: Db,
  jobId: number,
  idx: number,
  error: string,
  onlyIf: { attempts?: number } = {},
): Promise<boolean> {
  return db.sql.begin(async (tx) => {
    const [p] = await tx<{ status: PartitionStatus; attempts: number }[]>`
      select status, attempts from ${db.table('batch_partitions')}
      where job_id = ${jobId} and idx = ${idx} for update`;
    if (!p || p.status === 'completed' || p.status === 'failed') return false;
    if (onlyIf.attempts !== undefined && p.attempts !== onlyIf.attempts) return false;
    await tx`
      update ${db.table('batch_partitions')} set status = 'failed', error = ${storableText(error, MAX_ERROR_CHARS)}, failed_at = clock_timestamp()
      where job_id = ${jobId} and idx = ${idx}`;
    await tx`update ${db.table('batch_jobs')} set partitions_failed = partitions_failed + 1 where job_id = ${jobId}`;
    await finishIngestJobIfDone(tx, db, jobId);
    return true;
  });
}

/** A job's partitions in index order, after `afterIdx`: `status <jobId> --partitions` and the API. */
export async function listPartitions(db: Db, jobId: number, page: { limit: number; afterIdx?: number; status?: PartitionStatus }): Promise<Partition[]> {
  const { sql } = db;
  return sql<Partition[]>`
    select ${partitionColumns(db)} from ${db.table('batch_partitions')}
    where job_id = ${jobId}
      ${page.afterIdx === undefined ? sql`` : sql`and idx > ${page.afterIdx}`}
      ${page.status === undefined ? sql`` : sql`and status = ${page.status}`}
    order by idx limit ${page.limit}`;
}
