import type { Db } from '../store/db.ts';

/** What one compaction pass did. */
export interface CompactionResult {
  /** Shards (dataset, time range, key hash) compacted. */
  readonly shards: number;
  /** Partial rows merged and deleted. */
  readonly partialRows: number;
}

/** Merges appended partial aggregates into the compacted rollups (being built: a no-op for now). */
export async function compactPartials(db: Db, options: { dataset?: string } = {}): Promise<CompactionResult> {
  void db;
  void options;
  return { shards: 0, partialRows: 0 };
}
