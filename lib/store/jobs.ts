import type { RejectedRecord } from '../parse/sink.ts';
import type { PartitionStats } from '../process/partitionStats.ts';
import type { RollupCell } from '../rollup/aggregator.ts';
import type { PartitionPlan } from '../split/partitionPlan.ts';
import type { Db, Tx } from './db.ts';
import { markWindowsStale } from './analytics.ts';
import { insertPerformanceMetrics } from './performance.ts';
import { mergeRollupCells } from './rollups.ts';

export type JobStatus = 'splitting' | 'processing' | 'completed' | 'completed_with_rejects' | 'failed';

/** One ingestion of one object version (`batch_jobs`). */
export interface Job {
  readonly jobId: number;
  readonly dataset: string | null;
  readonly bucket: string;
  readonly key: string;
  readonly objectVersion: string;
  readonly objectSize: number | null;
  readonly format: 'csv' | 'ndjson' | null;
  readonly compression: 'none' | 'gzip';
  readonly status: JobStatus;
  readonly reason: string | null;
  readonly partitionBytes: number;
  readonly columns: string[] | null;
  readonly headerLines: number;
  readonly dataStart: number;
  readonly partitionsTotal: number | null;
  readonly partitionsDone: number;
  readonly recordsRead: number;
  readonly recordsAggregated: number;
  readonly recordsRejected: number;
  readonly bytesRead: number;
  readonly readMs: number;
  readonly parseMs: number;
  readonly mergeMs: number;
  readonly splitMs: number | null;
  readonly createdAt: Date;
  readonly splitFinishedAt: Date | null;
  readonly finishedAt: Date | null;
}

/** One byte range of an object, or one staged part (`batch_partitions`). */
export interface Partition {
  readonly jobId: number;
  readonly idx: number;
  readonly sourceKey: string;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  /** True for staged parts: the range holds whole records, no boundary search needed. */
  readonly exactRange: boolean;
  readonly status: 'pending' | 'completed';
  readonly enqueuedAt: Date | null;
}

const jobColumns = (db: Db) => db.sql`
  job_id as "jobId", dataset, bucket, key, object_version as "objectVersion", object_size as "objectSize",
  format, compression, status, reason, partition_bytes as "partitionBytes", columns,
  header_lines as "headerLines", data_start as "dataStart", partitions_total as "partitionsTotal",
  partitions_done as "partitionsDone", records_read as "recordsRead",
  records_aggregated as "recordsAggregated", records_rejected as "recordsRejected",
  bytes_read as "bytesRead", read_ms as "readMs", parse_ms as "parseMs", merge_ms as "mergeMs",
  split_ms as "splitMs", created_at as "createdAt", split_finished_at as "splitFinishedAt",
  finished_at as "finishedAt"`;

const partitionColumns = (db: Db) => db.sql`
  job_id as "jobId", idx, source_key as "sourceKey", range_start as "rangeStart",
  range_end as "rangeEnd", exact_range as "exactRange", status, enqueued_at as "enqueuedAt"`;

/**
 * The job of an object version: created now, or the one a previous delivery of the same event
 * created (`created` false). One job per (bucket, key, version) however often S3 or SQS repeat.
 */
export async function openJob(
  db: Db,
  object: { dataset: string | null; bucket: string; key: string; objectVersion: string; objectSize: number; partitionBytes: number },
): Promise<{ job: Job; created: boolean }> {
  const { sql } = db;
  const [inserted] = await sql<Job[]>`
    insert into ${db.table('batch_jobs')} (dataset, bucket, key, object_version, object_size, status, partition_bytes)
    values (${object.dataset}, ${object.bucket}, ${object.key}, ${object.objectVersion}, ${object.objectSize},
            'splitting', ${object.partitionBytes})
    on conflict (bucket, key, object_version) do nothing
    returning ${jobColumns(db)}`;
  if (inserted) return { job: inserted, created: true };
  const [existing] = await sql<Job[]>`
    select ${jobColumns(db)} from ${db.table('batch_jobs')}
    where bucket = ${object.bucket} and key = ${object.key} and object_version = ${object.objectVersion}`;
  return { job: existing, created: false };
}

/** Ends a job as failed, with the reason a user will read. */
export async function failJob(db: Db, jobId: number, reason: string): Promise<void> {
  await db.sql`
    update ${db.table('batch_jobs')} set status = 'failed', reason = ${reason}, finished_at = now()
    where job_id = ${jobId} and status in ('splitting', 'processing')`;
}

/**
 * Records the split: the object's layout and every partition, in one transaction, and moves the
 * job to `processing` (or straight to `completed` when there is nothing to process).
 */
export async function recordSplit(
  db: Db,
  jobId: number,
  split: {
    format: 'csv' | 'ndjson';
    compression: 'none' | 'gzip';
    columns: readonly string[];
    headerLines: number;
    dataStart: number;
    splitMs: number;
    partitions: readonly PartitionPlan[];
  },
): Promise<void> {
  await db.sql.begin(async (tx) => {
    if (split.partitions.length > 0) {
      const rows = split.partitions.map((p) => ({
        job_id: jobId,
        idx: p.idx,
        source_key: p.sourceKey,
        range_start: p.rangeStart,
        range_end: p.rangeEnd,
        exact_range: p.exactRange,
      }));
      await tx`insert into ${db.table('batch_partitions')} ${tx(rows)} on conflict (job_id, idx) do nothing`;
    }
    await tx`
      update ${db.table('batch_jobs')} set
        format = ${split.format}, compression = ${split.compression}, columns = ${split.columns as string[]},
        header_lines = ${split.headerLines}, data_start = ${split.dataStart},
        partitions_total = ${split.partitions.length}, split_ms = ${split.splitMs},
        split_finished_at = now(), status = 'processing'
      where job_id = ${jobId} and status = 'splitting'`;
    await finishIfDone(tx, db, jobId);
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
    update ${db.table('batch_partitions')} set enqueued_at = now()
    where job_id = ${jobId} and idx = any(${idxs as number[]}::int[])`;
}

/** A job by id. */
export async function getJob(db: Db, jobId: number): Promise<Job | undefined> {
  const [job] = await db.sql<Job[]>`select ${jobColumns(db)} from ${db.table('batch_jobs')} where job_id = ${jobId}`;
  return job;
}

/** The job of an object, if its notification has been seen. */
export async function findJobByObject(db: Db, bucket: string, key: string): Promise<Job | undefined> {
  const [job] = await db.sql<Job[]>`
    select ${jobColumns(db)} from ${db.table('batch_jobs')}
    where bucket = ${bucket} and key = ${key} order by job_id desc limit 1`;
  return job;
}

/** Recent jobs, newest first. */
export async function listJobs(db: Db, limit = 20): Promise<Job[]> {
  return db.sql<Job[]>`select ${jobColumns(db)} from ${db.table('batch_jobs')} order by job_id desc limit ${limit}`;
}

/** A partition by job and index. */
export async function getPartition(db: Db, jobId: number, idx: number): Promise<Partition | undefined> {
  const [p] = await db.sql<Partition[]>`
    select ${partitionColumns(db)} from ${db.table('batch_partitions')} where job_id = ${jobId} and idx = ${idx}`;
  return p;
}

/** What a partition's merge transaction did and how long its parts took. */
export interface MergeOutcome {
  /** false: the partition was already complete (a duplicate message); nothing was counted. */
  readonly merged: boolean;
  /** The transaction up to its commit: locks, rollup upserts, rejects, counts. */
  readonly mergeMs: number;
  /** Waiting for the partition's row lock. */
  readonly lockWaitMs: number;
  readonly rowsMerged: number;
}

/**
 * Merges one partition's results exactly once: in a single transaction, locks the partition row,
 * skips if it is already completed (a redelivered or concurrently duplicated message), merges the
 * cells, stores the rejects, marks stale the analytics windows the data touches (late data), marks
 * the partition completed and adds its counts to the job — finishing the job when it was the last
 * partition, and stores the partition's measurements in `performance_metrics`. Lock order:
 * partition row, rollup rows (sorted), analytics windows (sorted), job row; the same in every
 * transaction, hence no deadlock.
 */
export async function completePartition(
  db: Db,
  input: {
    jobId: number;
    idx: number;
    dataset: string;
    cells: RollupCell[];
    rejects: readonly RejectedRecord[];
    stats: Omit<PartitionStats, 'mergeMs'>;
    /** The time range the cells cover, [from, to): analytics windows it overlaps become stale. */
    dataRange: { from: Date; to: Date } | null;
  },
): Promise<MergeOutcome> {
  const started = performance.now();
  return db.sql.begin(async (tx) => {
    const lockStarted = performance.now();
    const [partition] = await tx`
      select status from ${db.table('batch_partitions')}
      where job_id = ${input.jobId} and idx = ${input.idx} for update`;
    // A round trip, plus any wait for a duplicate of this message that holds the partition.
    const lockWaitMs = performance.now() - lockStarted;
    if (!partition) throw new Error(`partition ${input.jobId}/${input.idx} is not recorded`);
    if (partition.status === 'completed') return { merged: false, mergeMs: 0, lockWaitMs, rowsMerged: 0 };

    const rowsMerged = await mergeRollupCells(tx, db, input.dataset, input.cells);
    await insertRejects(tx, db, input.jobId, input.idx, input.rejects);
    if (input.dataRange) await markWindowsStale(tx, db, input.dataset, input.dataRange.from, input.dataRange.to);
    const mergeMs = performance.now() - started;
    const s = input.stats;
    const measured = { recordsRead: s.recordsRead, recordsRejected: s.recordsRejected, bytesRead: s.bytesRead, readMs: s.readMs, parseMs: s.parseMs, mergeMs, lockWaitMs, rowsMerged };
    await insertPerformanceMetrics(
      tx,
      db,
      Object.entries(measured).map(([name, value]) => ({ component: 'processor', name, value, jobId: input.jobId, partitionIdx: input.idx })),
    );
    await tx`
      update ${db.table('batch_partitions')} set
        status = 'completed', completed_at = now(), records_read = ${s.recordsRead},
        records_aggregated = ${s.recordsAggregated}, records_rejected = ${s.recordsRejected},
        lines = ${s.lines}, bytes_read = ${s.bytesRead}, read_ms = ${s.readMs}, parse_ms = ${s.parseMs},
        merge_ms = ${mergeMs}, data_min = ${input.dataRange?.from ?? null}, data_max = ${input.dataRange?.to ?? null}
      where job_id = ${input.jobId} and idx = ${input.idx}`;
    await tx`
      update ${db.table('batch_jobs')} set
        partitions_done = partitions_done + 1,
        records_read = records_read + ${s.recordsRead},
        records_aggregated = records_aggregated + ${s.recordsAggregated},
        records_rejected = records_rejected + ${s.recordsRejected},
        bytes_read = bytes_read + ${s.bytesRead},
        read_ms = read_ms + ${s.readMs}, parse_ms = parse_ms + ${s.parseMs}, merge_ms = merge_ms + ${mergeMs}
      where job_id = ${input.jobId}`;
    await finishIfDone(tx, db, input.jobId);
    return { merged: true, mergeMs, lockWaitMs, rowsMerged };
  });
}

async function insertRejects(tx: Tx, db: Db, jobId: number, idx: number, rejects: readonly RejectedRecord[]): Promise<void> {
  // Postgres caps a statement at 65535 parameters; 6 per row.
  const rowsPerStatement = 5000;
  for (let i = 0; i < rejects.length; i += rowsPerStatement) {
    const rows = rejects.slice(i, i + rowsPerStatement).map((r, j) => ({
      job_id: jobId,
      partition_idx: idx,
      seq: i + j,
      line_in_partition: r.line,
      byte_offset: r.offset,
      reason: r.reason,
      // Postgres text cannot hold NUL.
      raw: r.raw.replace(/\u0000/g, '\\0'),
    }));
    await tx`insert into ${db.table('rejected_records')} ${tx(rows)}`;
  }
}

/** Moves a processing job whose partitions are all completed to its final status. */
async function finishIfDone(tx: Tx, db: Db, jobId: number): Promise<void> {
  await tx`
    update ${db.table('batch_jobs')} set
      status = case when records_rejected > 0 then 'completed_with_rejects' else 'completed' end,
      finished_at = now()
    where job_id = ${jobId} and status = 'processing' and partitions_done >= partitions_total`;
}

/** A rejected record with its line number in the object (known once the partitions before it are done). */
export interface LocatedReject {
  readonly jobId: number;
  readonly dataset: string | null;
  /** The object the record came from. */
  readonly bucket: string;
  readonly key: string;
  /** 1-based physical line in the object (the header is line 1); null while earlier partitions are pending. */
  readonly line: number | null;
  readonly byteOffset: number;
  readonly reason: string;
  readonly raw: string;
}

/**
 * The rejected records of a job in file order. A partition only knows lines relative to its own
 * start; the absolute line adds the header's lines and every earlier partition's line count.
 */
export async function listRejects(db: Db, jobId: number, limit = 1000): Promise<LocatedReject[]> {
  return db.sql<LocatedReject[]>`
    with offsets as (
      select idx,
             sum(lines) over (order by idx rows between unbounded preceding and 1 preceding) as lines_before,
             count(*) filter (where lines is null) over (order by idx rows between unbounded preceding and 1 preceding) as pending_before
      from ${db.table('batch_partitions')} where job_id = ${jobId}
    )
    select r.job_id as "jobId", j.dataset, j.bucket, j.key,
           -- sum() of bigint is numeric, which postgres.js returns as a string: cast back.
           case when coalesce(o.pending_before, 0) > 0 then null
                else (j.header_lines + coalesce(o.lines_before, 0) + r.line_in_partition)::bigint end as line,
           r.byte_offset as "byteOffset", r.reason, r.raw
    from ${db.table('rejected_records')} r
    join ${db.table('batch_jobs')} j on j.job_id = r.job_id
    join offsets o on o.idx = r.partition_idx
    where r.job_id = ${jobId}
    order by r.partition_idx, r.seq
    limit ${limit}`;
}
