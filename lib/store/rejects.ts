import type { RejectedRecord } from '../parse/sink.ts';
import type { Db, Tx } from './db.ts';
import { pageOf, type KeysetPage } from './paging.ts';

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
  const rows = await rejectRows(db, jobId, limit);
  return rows.map(({ partitionIdx: _p, seq: _s, ...reject }) => reject);
}

/** Where a reject stands in file order: (partition, sequence within it), the table's key. */
export type RejectKey = readonly [partitionIdx: number, seq: number];

/** A page of a job's rejects in file order, after `after` (the previous page's last). */
export async function pageRejects(db: Db, jobId: number, page: { limit: number; after?: RejectKey }): Promise<KeysetPage<LocatedReject, RejectKey>> {
  const rows = await rejectRows(db, jobId, page.limit + 1, page.after);
  const located = pageOf(rows, page.limit, (r): RejectKey => [r.partitionIdx, r.seq]);
  return { items: located.items.map(({ partitionIdx: _p, seq: _s, ...reject }) => reject), next: located.next };
}

async function rejectRows(db: Db, jobId: number, limit: number, after?: RejectKey): Promise<(LocatedReject & { partitionIdx: number; seq: number })[]> {
  const { sql } = db;
  return sql<(LocatedReject & { partitionIdx: number; seq: number })[]>`
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
           r.byte_offset as "byteOffset", r.reason, r.raw, r.partition_idx as "partitionIdx", r.seq
    from ${db.table('rejected_records')} r
    join ${db.table('batch_jobs')} j on j.job_id = r.job_id
    join offsets o on o.idx = r.partition_idx
    where r.job_id = ${jobId}
      ${after ? sql`and (r.partition_idx, r.seq) > (${after[0]}::int, ${after[1]}::int)` : sql``}
    order by r.partition_idx, r.seq
    limit ${limit}`;
}
