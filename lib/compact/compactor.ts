import { BatchflowError } from '../errors.ts';
import { BUCKET_ORIGIN_MS } from '../rollup/granularity.ts';
import type { Db } from '../store/db.ts';
import { compactShard, pendingCompactionShards } from '../store/rollups.ts';

/**
 * Compaction: processors append partial aggregates (lib/store/partials.ts) and never update a
 * row; this merges them into the compacted rollups in the background, shard by shard, so queries
 * read fewer rows. Queries are exact before, during and after: they read both tables in one
 * statement, and a shard moves from one to the other in one transaction.
 */

/** Shards that failed in a pass (each rolled back whole); the others were compacted. */
export class CompactionError extends BatchflowError {
  override name = 'CompactionError';
}

/** What one compaction pass did. */
export interface CompactionResult {
  /** Shards (dataset, rollup, time range, key hash) compacted. */
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
  const failures: { shard: (typeof shards)[number]; error: unknown }[] = [];
  const worker = async () => {
    while (next < shards.length && (options.deadlineMs === undefined || Date.now() < options.deadlineMs)) {
      const shard = shards[next++];
      // One shard's failure (rolled back whole) does not hold up the others; it is reported after.
      const result = await compactShard(db, shard).catch((error: unknown) => {
        failures.push({ shard, error });
        return undefined;
      });
      if (result === undefined) continue;
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
  if (failures.length > 0) {
    const [{ shard, error }] = failures;
    const text = error instanceof Error ? error.message : String(error);
    throw new CompactionError(
      `${failures.length} of ${shards.length} compaction shards failed (their partial rows stay, queries stay exact; ${totals.shards} compacted): ` +
        `dataset "${shard.dataset}" rollup "${shard.rollup}" range ${shard.range} shard ${shard.shard}: ${text}`,
      { cause: error },
    );
  }
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
