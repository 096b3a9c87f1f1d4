import { parseDatasetDefinition, type DatasetDefinition } from '../datasets/definition.ts';
import type { TextEncoding } from '../parse/transcode.ts';
import { storableText } from '../parse/values.ts';
import type { Db, Tx } from './db.ts';
import { pageOf, type KeysetPage } from './paging.ts';

// The `batch_jobs` table: one ingestion job per object version.

/** A failed job's reason is cut here: it may quote the object's bytes. */
const MAX_REASON_CHARS = 4000;

export type IngestJobStatus =
  | 'splitting'
  | 'processing'
  | 'completed'
  | 'completed_with_rejects'
  | 'completed_with_failures'
  | 'failed'
  | 'stopped';

/** Statuses a job does not leave by itself: only `retry` or `restart` (lib/recovery) reopen one. */
export const ENDED_STATUSES: readonly IngestJobStatus[] = ['completed', 'completed_with_rejects', 'completed_with_failures', 'failed', 'stopped'];

/** One ingestion of one object version (`batch_jobs`). */
export interface IngestJob {
  readonly jobId: number;
  readonly dataset: string | null;
  readonly bucket: string;
  readonly key: string;
  readonly objectVersion: string;
  /** The version its reads are pinned to: the S3 version id (versioned bucket), else the ETag. */
  readonly versionId: string | null;
  readonly eTag: string | null;
  readonly objectSize: number | null;
  readonly format: 'csv' | 'ndjson' | 'parquet' | null;
  readonly compression: 'none' | 'gzip';
  readonly status: IngestJobStatus;
  readonly reason: string | null;
  readonly partitionBytes: number;
  readonly columns: string[] | null;
  readonly headerLines: number;
  readonly dataStart: number;
  /** CSV: the line end the splitter detected ('lf' also reads CRLF). */
  readonly lineEnd: 'lf' | 'cr';
  readonly partitionsTotal: number | null;
  readonly partitionsDone: number;
  /** Partitions whose last allowed attempt failed, or that nothing will try again (the watchdog). */
  readonly partitionsFailed: number;
  readonly recordsRead: number;
  readonly recordsAggregated: number;
  readonly recordsRejected: number;
  /** Values counted as missing (onInvalidValue "null"), per column: `{}` when none. */
  readonly valuesNulled: Record<string, number>;
  readonly bytesRead: number;
  readonly readMs: number;
  readonly parseMs: number;
  readonly mergeMs: number;
  readonly splitMs: number | null;
  readonly createdAt: Date;
  readonly splitFinishedAt: Date | null;
  readonly finishedAt: Date | null;
  /** Split attempts started (one per delivery of the object's notification while splitting). */
  readonly splitAttempts: number;
  readonly splitStartedAt: Date | null;
  /** What the object is read as: UTF-16 by its byte order mark, else the dataset's encoding. */
  readonly encoding: TextEncoding;
  /** The dataset's maxRejectedPercent when the job was split (null: any number of rejects). */
  readonly maxRejectedPercent: number | null;
  /** Ended `failed` because its rejects passed maxRejectedPercent: nothing of it is in the rollups. */
  readonly failedOnRejects: boolean;
  /**
   * The dataset's definition as the job opened (its snapshot): what the splitter and the processors
   * read it with, whatever `datasets put` changes meanwhile. Null for a job opened before the
   * snapshot was kept (migration 17), or whose dataset did not exist then: those read the current one.
   */
  readonly definition: DatasetDefinition | null;
}

/** A job without its definition snapshot: the processor's read per partition (it caches the snapshot per job). */
export type IngestJobState = Omit<IngestJob, 'definition'>;

const ingestJobStateColumns = (db: Db) => db.sql`
  job_id as "jobId", dataset, bucket, key, object_version as "objectVersion", version_id as "versionId", etag as "eTag",
  object_size as "objectSize",
  format, compression, status, reason, partition_bytes as "partitionBytes", columns,
  header_lines as "headerLines", data_start as "dataStart", line_end as "lineEnd", partitions_total as "partitionsTotal",
  partitions_done as "partitionsDone", partitions_failed as "partitionsFailed", records_read as "recordsRead",
  records_aggregated as "recordsAggregated", records_rejected as "recordsRejected", values_nulled as "valuesNulled",
  bytes_read as "bytesRead", read_ms as "readMs", parse_ms as "parseMs", merge_ms as "mergeMs",
  split_ms as "splitMs", created_at as "createdAt", split_finished_at as "splitFinishedAt",
  finished_at as "finishedAt", split_attempts as "splitAttempts", split_started_at as "splitStartedAt",
  encoding, max_rejected_percent as "maxRejectedPercent", failed_on_rejects as "failedOnRejects"`;

/** The columns of an IngestJob: ingestJobStateColumns and the definition snapshot. */
const ingestJobColumns = (db: Db) => db.sql`${ingestJobStateColumns(db)}, definition`;

/** A row with the snapshot as stored, parsed as getDataset parses a definition (defaults of fields added since filled in). */
function withDefinition<T extends { definition: unknown }>(row: T): T {
  return row.definition === null ? row : { ...row, definition: parseDatasetDefinition(row.definition) };
}

/**
 * The job of an object version: created now, or the one a previous delivery of the same event
 * created (`created` false). One job per (bucket, key, version) however often S3 or SQS repeat.
 */
export async function openIngestJob(
  db: Db,
  object: {
    dataset: string | null;
    bucket: string;
    key: string;
    objectVersion: string;
    versionId?: string | undefined;
    eTag?: string | undefined;
    objectSize: number;
    partitionBytes: number;
  },
): Promise<{ job: IngestJob; created: boolean }> {
  const { sql } = db;
  // The definition is copied in the statement that creates the job: a put committed before it is
  // the job's, one after it is the next job's; none lands in between.
  const [inserted] = await sql<IngestJob[]>`
    insert into ${db.table('batch_jobs')} (dataset, bucket, key, object_version, version_id, etag, object_size, status, partition_bytes, definition)
    values (${object.dataset}, ${object.bucket}, ${object.key}, ${object.objectVersion}, ${object.versionId ?? null}, ${object.eTag ?? null},
            ${object.objectSize}, 'splitting', ${object.partitionBytes},
            (select d.definition from ${db.table('datasets')} d where d.name = ${object.dataset}))
    on conflict (bucket, key, object_version) do nothing
    returning ${ingestJobColumns(db)}`;
  if (inserted) return { job: withDefinition(inserted), created: true };
  const [existing] = await sql<IngestJob[]>`
    select ${ingestJobColumns(db)} from ${db.table('batch_jobs')}
    where bucket = ${object.bucket} and key = ${object.key} and object_version = ${object.objectVersion}`;
  return { job: withDefinition(existing!), created: false };
}

/**
 * Ends a job as failed, with the reason a user will read (made storable: it may quote the object's
 * bytes). `onlyIf` narrows it to a job still splitting after exactly that many split attempts (the
 * watchdog's guard against an attempt that started after it looked). Returns whether it ended it.
 */
export async function failIngestJob(db: Db, jobId: number, reason: string, onlyIf: { splitAttempts?: number } = {}): Promise<boolean> {
  const { sql } = db;
  const rows = await sql`
    update ${db.table('batch_jobs')} set status = 'failed', reason = ${storableText(reason, MAX_REASON_CHARS)}, finished_at = clock_timestamp()
    where job_id = ${jobId}
      ${onlyIf.splitAttempts === undefined ? sql`and status in ('splitting', 'processing')` : sql`and status = 'splitting' and split_attempts = ${onlyIf.splitAttempts}`}
    returning job_id`;
  return rows.length > 0;
}

/** A job by id. */
export async function getIngestJob(db: Db, jobId: number): Promise<IngestJob | undefined> {
  const [job] = await db.sql<IngestJob[]>`select ${ingestJobColumns(db)} from ${db.table('batch_jobs')} where job_id = ${jobId}`;
  return job && withDefinition(job);
}

/** A job by id without its definition snapshot (read once per job with getJobDefinition). */
export async function getIngestJobState(db: Db, jobId: number): Promise<IngestJobState | undefined> {
  const [job] = await db.sql<IngestJobState[]>`select ${ingestJobStateColumns(db)} from ${db.table('batch_jobs')} where job_id = ${jobId}`;
  return job;
}

/** The definition a job runs with, and whether it is the job's own snapshot (immutable) or the dataset's current one. */
export interface JobDefinition {
  readonly definition: DatasetDefinition;
  readonly snapshot: boolean;
}

/**
 * The definition job `jobId` runs with: its snapshot, or — for a job opened before migration 17,
 * which has none — its dataset's current definition, as every job read before. Undefined when the
 * job is gone, or has no snapshot and its dataset is gone.
 */
export async function getJobDefinition(db: Db, jobId: number): Promise<JobDefinition | undefined> {
  const [row] = await db.sql`
    select coalesce(j.definition, d.definition) as definition, j.definition is not null as snapshot
    from ${db.table('batch_jobs')} j left join ${db.table('datasets')} d on d.name = j.dataset
    where j.job_id = ${jobId}`;
  if (!row || row.definition === null) return undefined;
  return { definition: parseDatasetDefinition(row.definition), snapshot: row.snapshot as boolean };
}

/**
 * Whether job `jobId` existed and was deleted (with its dataset): job ids come from an identity
 * sequence and are never reused, so an id the sequence has handed out with no row left is a
 * deleted job, and one beyond it never existed.
 */
export async function ingestJobDeleted(db: Db, jobId: number): Promise<boolean> {
  const [row] = await db.sql`
    select not exists (select 1 from ${db.table('batch_jobs')} where job_id = ${jobId})
      and ${jobId} <= coalesce(pg_sequence_last_value(pg_get_serial_sequence(quote_ident(${db.schema}) || '.batch_jobs', 'job_id')::regclass), 0) as deleted`;
  return row!.deleted as boolean;
}

/** The job of one object version, if its notification has been seen. */
export async function findIngestJobByVersion(db: Db, object: { bucket: string; key: string; objectVersion: string }): Promise<IngestJob | undefined> {
  const [job] = await db.sql<IngestJob[]>`
    select ${ingestJobColumns(db)} from ${db.table('batch_jobs')}
    where bucket = ${object.bucket} and key = ${object.key} and object_version = ${object.objectVersion}`;
  return job && withDefinition(job);
}

/** The job of an object, if its notification has been seen. */
export async function findIngestJobByObject(db: Db, bucket: string, key: string): Promise<IngestJob | undefined> {
  const [job] = await db.sql<IngestJob[]>`
    select ${ingestJobColumns(db)} from ${db.table('batch_jobs')}
    where bucket = ${bucket} and key = ${key} order by job_id desc limit 1`;
  return job && withDefinition(job);
}

/** Recent jobs, newest first. */
export async function listIngestJobs(db: Db, limit = 20): Promise<IngestJob[]> {
  const rows = await db.sql<IngestJob[]>`select ${ingestJobColumns(db)} from ${db.table('batch_jobs')} order by job_id desc limit ${limit}`;
  return rows.map(withDefinition);
}

/**
 * A page of jobs, newest first, older than job `before` (the previous page's last), optionally only
 * a dataset's, in one status, or created at or after `since`.
 */
export async function pageIngestJobs(
  db: Db,
  page: { limit: number; before?: number; dataset?: string; status?: IngestJob['status']; since?: Date; key?: string },
): Promise<KeysetPage<IngestJob, number>> {
  const { sql } = db;
  const rows = await sql<IngestJob[]>`
    select ${ingestJobColumns(db)} from ${db.table('batch_jobs')}
    where true
      ${page.before === undefined ? sql`` : sql`and job_id < ${page.before}`}
      ${page.dataset === undefined ? sql`` : sql`and dataset = ${page.dataset}`}
      ${page.status === undefined ? sql`` : sql`and status = ${page.status}`}
      ${page.since === undefined ? sql`` : sql`and created_at >= ${page.since}`}
      ${page.key === undefined ? sql`` : sql`and key = ${page.key}`}
    order by job_id desc limit ${page.limit + 1}`;
  return pageOf(rows.map(withDefinition), page.limit, (job) => job.jobId);
}

/**
 * Deletes a finished job's record with its partitions, rejects and metrics (its aggregates stay:
 * they are the dataset's). 'running' while it splits or processes, 'not-found' for no such job.
 */
export async function deleteIngestJob(db: Db, jobId: number): Promise<'deleted' | 'running' | 'not-found'> {
  const [row] = await db.sql`
    with target as (select job_id, status from ${db.table('batch_jobs')} where job_id = ${jobId}),
    gone as (
      delete from ${db.table('batch_jobs')} j using target t
      where j.job_id = t.job_id and t.status not in ('splitting', 'processing') returning j.job_id)
    select (select status from target) as status, (select count(*) from gone)::int as deleted`;
  if (row!.status === null) return 'not-found';
  return row!.deleted > 0 ? 'deleted' : 'running';
}

/**
 * Ends a processing job whose partitions are all completed or failed, inside the caller's
 * transaction (recordSplit's, completePartition's, failPartition's): `failed` when its rejects
 * passed its maxRejectedPercent — and then its partial aggregates are deleted in the same
 * transaction, so none of it stays in the rollups (the compactor never takes a job that can still
 * fail so: see compactableJobs) —, otherwise `completed` or `completed_with_rejects` when no
 * partition failed, `failed` when none merged, `completed_with_failures` otherwise, with a reason
 * naming the first failed partition's error.
 */
export async function finishIngestJobIfDone(tx: Tx, db: Db, jobId: number): Promise<boolean> {
  const over = tx`(max_rejected_percent is not null and records_read > 0 and records_rejected * 100.0 > max_rejected_percent * records_read)`;
  const [finished] = await tx<{ failedOnRejects: boolean; dataset: string | null }[]>`
    update ${db.table('batch_jobs')} j set
      status = case
        when ${over} then 'failed'
        when partitions_failed = 0 then case when records_rejected > 0 then 'completed_with_rejects' else 'completed' end
        when partitions_done = 0 then 'failed'
        else 'completed_with_failures' end,
      reason = case
        when ${over} then (
          select format('%s of %s records rejected (%s %%), over the dataset''s maxRejectedPercent of %s %%: the job failed and nothing of it is in the rollups (batchflow rejects %s lists the rejects)%s',
                        j.records_rejected, j.records_read, round(j.records_rejected * 100.0 / j.records_read, 2), j.max_rejected_percent, j.job_id,
                        coalesce((select format('; the first: partition %s, line %s of it: %s', r.partition_idx, r.line_in_partition, left(r.reason, 500))
                                  from ${db.table('rejected_records')} r where r.job_id = j.job_id order by r.partition_idx, r.seq limit 1), '')))
        when partitions_failed = 0 then reason
        else (
        select format('%s of %s partitions failed (batchflow retry %s re-sends them); partition %s: %s',
                      j.partitions_failed, j.partitions_total, j.job_id, p.idx, left(p.error, ${MAX_REASON_CHARS}))
        from ${db.table('batch_partitions')} p where p.job_id = j.job_id and p.status = 'failed' order by p.idx limit 1) end,
      failed_on_rejects = ${over},
      finished_at = clock_timestamp()
    where job_id = ${jobId} and status = 'processing' and partitions_done + partitions_failed >= partitions_total
    returning failed_on_rejects as "failedOnRejects", dataset`;
  if (!finished) return false;
  if (finished.failedOnRejects) {
    // By dataset, the partial rows' index: the job's rows are all there, as the compactor held them.
    await tx`delete from ${db.table('rollup_partials')} where dataset = ${finished.dataset ?? ''} and job_id = ${jobId}`;
  }
  return true;
}

/**
 * The condition (over `batch_jobs` as `j`) of a job whose partial aggregates may be compacted: it
 * ended and can no longer fail on its reject threshold — completed, with rejects, or failed; or,
 * without a threshold, stopped or completed with failures too (a restart or retry of those reopens
 * them, and with a threshold they could still end past it, with all their rows to delete).
 */
export function compactableJobs(tx: Tx | Db['sql']) {
  return tx`(j.status in ('completed', 'completed_with_rejects', 'failed')
            or (j.status in ('stopped', 'completed_with_failures') and j.max_rejected_percent is null))`;
}

/** Notes the start of a split attempt (one per delivery of the notification while the job is splitting): the watchdog's evidence. */
export async function beginSplitAttempt(db: Db, jobId: number): Promise<number> {
  const [row] = await db.sql<{ splitAttempts: number }[]>`
    update ${db.table('batch_jobs')} set split_attempts = split_attempts + 1, split_started_at = clock_timestamp()
    where job_id = ${jobId} and status = 'splitting' returning split_attempts as "splitAttempts"`;
  return row?.splitAttempts ?? 0;
}
