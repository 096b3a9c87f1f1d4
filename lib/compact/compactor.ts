import { BUCKET_ORIGIN_MS } from '../rollup/granularity.ts';
import type { Db } from '../store/db.ts';
import { compactShard, pendingCompactionShards } from '../store/rollups.ts';

/**
 * Compaction: processors append partial aggregates (lib/store/partials.ts) and never update a
 * row; this merges them into the compacted rollups in the background, shard by shard, so queries
 * read fewer rows. Queries are exact before, during and after: they read both tables in one
 * statement, and a shard moves from one to the other in one transaction.
 */

/** What one compaction pass did. */
export interface CompactionResult {
  /** Shards (dataset, time range, key hash) compacted. */
  readonly shards: number;
  /** Partial rows merged and deleted. */
  readonly partialRows: number;
  /** Compacted cells written or updated. */
  readonly cells: number;
  /** Shards another compactor held, left to it. */
  readonly busy: number;
  /** Shards not reached before the deadline, left for the next pass. */
  readonly remaining: number;
}

export interface CompactionOptions {
  /** Only this dataset's partial rows. @default every dataset */
  readonly dataset?: string;
  /** No shard is started after this (Date.now() milliseconds); the one running finishes. */
  readonly deadlineMs?: number;
  /** Shards compacted at once, each on its own connection. @default 2 */
  readonly concurrency?: number;
}

/**
 * Compacts every shard that has partial rows, oldest time range first. Idempotent and safe to run
 * any number of times at once: a shard another pass holds is skipped, and a shard compacted twice
 * finds nothing the second time.
 */
export async function compactPartials(db: Db, options: CompactionOptions = {}): Promise<CompactionResult> {
  const shards = await pendingCompactionShards(db, new Date(BUCKET_ORIGIN_MS).toISOString(), options.dataset);
  let next = 0;
  const totals = { shards: 0, partialRows: 0, cells: 0, busy: 0 };
  const worker = async () => {
    while (next < shards.length && (options.deadlineMs === undefined || Date.now() < options.deadlineMs)) {
      const result = await compactShard(db, shards[next++]);
      if (result === null) {
        totals.busy++;
        continue;
      }
      totals.shards++;
      totals.partialRows += result.rows;
      totals.cells += result.cells;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  return { ...totals, remaining: shards.length - next };
}

/**
 * When a pass with `remainingMs` of its invocation left stops starting shards: a shard takes
 * seconds, so 30 s before the end, and at most 2 minutes in (a processor that finished a job
 * goes back to its queue then; the schedule does the rest).
 */
export function compactionDeadline(remainingMs: number, now = Date.now()): number {
  return now + Math.max(0, Math.min(remainingMs - 30_000, 120_000));
}
