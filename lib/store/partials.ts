import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { GROUP_STATS, type RollupGroup } from '../rollup/aggregator.ts';
import type { Db, Tx } from './db.ts';

/**
 * Partial aggregates: what a partition merged, appended to `rollup_partials` inside the
 * transaction that completes it, one row per group. With COPY (the default) rows stream to
 * Postgres as text; for servers without COPY FROM STDIN over the wire (PGlite, the zero-install
 * local database) the same rows go in as INSERTs. Either way nothing is updated: no row locks,
 * no conflicts between concurrent partitions.
 */

/** The number of compaction shards per dataset and time range: rows hash into 0..SHARDS−1. */
export const PARTIAL_SHARDS = 16;

/**
 * The shard of a group: FNV-1a over its rollup and dimension values. Stored with the row, so the
 * compactor never recomputes it; any stable hash would do.
 */
export function partialShard(rollup: string, dims: readonly string[]): number {
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    // A separator no text holds, so ["ab", "c"] and ["a", "bc"] differ.
    h = Math.imul(h ^ 0xffff, 0x01000193);
  };
  mix(rollup);
  for (const d of dims) mix(d);
  return (h >>> 0) % PARTIAL_SHARDS;
}

/** Where a partition's rows come from, for every row it writes. */
export interface PartialSource {
  readonly dataset: string;
  readonly jobId: number;
  readonly idx: number;
  /** The dataset's metrics, in the order of RollupGroup's arrays. */
  readonly metrics: readonly string[];
}

/** Appends a partition's groups; each write is one statement, so none runs while the caller parses. */
export interface PartialWriter {
  /** Appends the groups; returns how many rows it wrote. */
  write(groups: Iterable<RollupGroup>): Promise<number>;
}

// Per partition, the same in every row: dataset, then job, partition and metrics after the group's own.
const COLUMNS = ['dataset', 'rollup', 'dims', 'shard', 'bucket_start', 'job_id', 'partition_idx', 'metrics', 'stats', 'sketches'];

/** A writer of partial rows in the caller's transaction: COPY when `db.copy`, else INSERT. */
export function partialWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  return db.copy ? copyWriter(tx, db, source) : insertWriter(tx, db, source);
}

/** Text accumulated before a write to the COPY stream: large enough that calls are few. */
const COPY_CHUNK_CHARS = 1 << 20;

function copyWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  const encoder = copyEncoder(source);
  return {
    async write(groups) {
      let rows = 0;
      let stream: Writable | undefined;
      let done: Promise<void> | undefined;
      let text = '';
      const flush = async () => {
        if (!stream) {
          stream = await tx`copy ${db.table('rollup_partials')} (${tx(COLUMNS)}) from stdin`.writable();
          done = finished(stream);
          // Seen by `await done` below; without a handler an early error would be unhandled.
          done.catch(() => {});
        }
        if (!stream.write(text)) await Promise.race([new Promise((resolve) => stream!.once('drain', resolve)), done]);
        text = '';
      };
      for (const g of groups) {
        text += encoder(g);
        rows++;
        if (text.length >= COPY_CHUNK_CHARS) await flush();
      }
      if (rows === 0) return 0;
      if (text.length > 0) await flush();
      stream!.end();
      await done;
      return rows;
    },
  };
}

/**
 * Turns groups into lines of COPY's text format, in COLUMNS order. What depends only on a group's
 * combination of values (rollup, dims, shard) is encoded once per combination — the aggregator
 * hands out the same dims array for each — and each bucket's timestamp once.
 */
export function copyEncoder(source: PartialSource): (g: RollupGroup) => string {
  const head = copyField(source.dataset);
  const middle = `${source.jobId}\t${source.idx}\t${copyField(textArray(source.metrics))}`;
  const prefixes = new Map<readonly string[], string>();
  const buckets = new Map<number, string>();
  return (g) => {
    let prefix = prefixes.get(g.dims);
    if (prefix === undefined) {
      prefix = `${head}\t${copyField(g.rollup)}\t${copyField(textArray(g.dims))}\t${partialShard(g.rollup, g.dims)}\t`;
      prefixes.set(g.dims, prefix);
    }
    let bucket = buckets.get(g.bucketStart);
    if (bucket === undefined) buckets.set(g.bucketStart, (bucket = new Date(g.bucketStart).toISOString()));
    // Sketch texts hold no backslash, tab or line break: nothing in them to escape for COPY.
    return `${prefix}${bucket}\t${middle}\t{${numbers(g.stats)}}\t${g.sketches}\n`;
  };
}

/**
 * A group's stats as array elements: JavaScript's shortest round-trip form, which float8 reads back
 * exactly; NaN is NULL. Formatting a double is the encoder's main cost, and at high cardinality
 * most cells hold one value, whose sum, min, max and mean are that value: it is formatted once.
 */
function numbers(xs: Float64Array): string {
  let out = '';
  for (let o = 0; o < xs.length; o += GROUP_STATS) {
    const count = xs[o];
    const x = xs[o + 1];
    if (count === 1 && xs[o + 2] === x && xs[o + 3] === x && xs[o + 4] === x && xs[o + 5] === 0) {
      const v = String(x);
      out += `${o === 0 ? '' : ','}1,${v},${v},${v},${v},0`;
      continue;
    }
    for (let i = o; i < o + GROUP_STATS; i++) {
      const y = xs[i];
      out += (i === 0 ? '' : ',') + (y === y ? String(y) : 'NULL');
    }
  }
  return out;
}

/** A value as a field of COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyField(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
}

/**
 * A text[] literal: every element double-quoted with backslash and double quote escaped, so no
 * value (empty, NULL-like, with braces or commas) is read as anything but itself.
 */
export function textArray(values: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) out += `${i === 0 ? '' : ','}"${values[i].replace(/["\\]/g, '\\$&')}"`;
  return out + '}';
}

/** Rows per INSERT in the fallback: bounds the JSON parameter while keeping statements few. */
const ROWS_PER_INSERT = 2000;

function insertWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  const insert = (rows: object[]) => tx`
    insert into ${db.table('rollup_partials')} (${tx(COLUMNS)})
    select ${source.dataset}, x.rollup, x.dims, x.shard, x.bucket_start, ${source.jobId}, ${source.idx}, ${source.metrics as string[]}::text[],
           x.stats, x.sketches
    from jsonb_to_recordset(${tx.json(rows as never)}::jsonb) as x(
      rollup text, dims text[], shard smallint, bucket_start timestamptz, stats float8[], sketches jsonb)`;
  return {
    async write(groups) {
      let rows: object[] = [];
      let written = 0;
      for (const g of groups) {
        rows.push({
          rollup: g.rollup,
          dims: g.dims,
          shard: partialShard(g.rollup, g.dims),
          bucket_start: new Date(g.bucketStart).toISOString(),
          // JSON has no NaN: null, as the COPY writer's NULL.
          stats: Array.from(g.stats, (x) => (x === x ? x : null)),
          sketches: JSON.parse(g.sketches),
        });
        if (rows.length === ROWS_PER_INSERT) {
          await insert(rows);
          written += rows.length;
          rows = [];
        }
      }
      if (rows.length > 0) await insert(rows);
      return written + rows.length;
    },
  };
}
