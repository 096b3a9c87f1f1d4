import type { RejectedRecord } from '../parse/sink.ts';
import type { Db, Tx } from './db.ts';

// The `rejected_records` table: records a processor could not aggregate, with where they were.

/** Stores a partition's rejected records inside the caller's transaction (completePartition's). */
export async function insertRejects(tx: Tx, db: Db, jobId: number, idx: number, rejects: readonly RejectedRecord[]): Promise<void> {
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
