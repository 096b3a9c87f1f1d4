import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { RollupGroup } from '../rollup/aggregator.ts';
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

const COLUMNS = ['dataset', 'rollup', 'bucket_start', 'dims', 'shard', 'job_id', 'partition_idx', 'metrics', 'count', 'sum', 'min', 'max', 'mean', 'm2', 'sketch'];

/** A writer of partial rows in the caller's transaction: COPY when `db.copy`, else INSERT. */
export function partialWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  return db.copy ? copyWriter(tx, db, source) : insertWriter(tx, db, source);
}

/** Text accumulated before a write to the COPY stream: large enough that calls are few. */
const COPY_CHUNK_CHARS = 1 << 20;

function copyWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  const head = copyField(source.dataset);
  const middle = `${source.jobId}\t${source.idx}\t${copyField(textArray(source.metrics))}`;
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
        text += copyRow(g, head, middle);
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
 * One group as a line of COPY's text format, in COLUMNS order: `head` is the dataset's field,
 * `middle` the job id, partition index and metrics fields (the same for every row of a partition).
 */
export function copyRow(g: RollupGroup, head: string, middle: string): string {
  return (
    `${head}\t${copyField(g.rollup)}\t${new Date(g.bucketStart).toISOString()}\t${copyField(textArray(g.dims))}\t` +
    `${partialShard(g.rollup, g.dims)}\t${middle}\t` +
    `{${g.count.join(',')}}\t{${numbers(g.sum)}}\t{${numbers(g.min)}}\t{${numbers(g.max)}}\t{${numbers(g.mean)}}\t{${numbers(g.m2)}}\t` +
    `${copyField(jsonArray(g.sketch))}\n`
  );
}

/** Doubles as array elements: JavaScript's shortest round-trip form, which float8 reads back exactly. */
function numbers(xs: readonly (number | null)[]): string {
  let out = '';
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    out += (i === 0 ? '' : ',') + (x === null ? 'NULL' : String(x));
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

/** A jsonb[] literal of JSON texts. Sketch texts hold only quotes, so that is all there is to escape. */
function jsonArray(texts: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < texts.length; i++) out += `${i === 0 ? '' : ','}"${texts[i].replace(/["\\]/g, '\\$&')}"`;
  return out + '}';
}

/** Rows per INSERT in the fallback: bounds the JSON parameter while keeping statements few. */
const ROWS_PER_INSERT = 2000;

function insertWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  const insert = (rows: object[]) => tx`
    insert into ${db.table('rollup_partials')} (${tx(COLUMNS)})
    select ${source.dataset}, x.rollup, x.bucket_start, x.dims, x.shard, ${source.jobId}, ${source.idx}, ${source.metrics as string[]}::text[],
           x.count, x.sum, x.min, x.max, x.mean, x.m2, x.sketch
    from jsonb_to_recordset(${tx.json(rows as never)}::jsonb) as x(
      rollup text, bucket_start timestamptz, dims text[], shard smallint, count bigint[],
      sum float8[], min float8[], max float8[], mean float8[], m2 float8[], sketch jsonb[])`;
  return {
    async write(groups) {
      let rows: object[] = [];
      let written = 0;
      for (const g of groups) {
        rows.push({
          rollup: g.rollup,
          bucket_start: new Date(g.bucketStart).toISOString(),
          dims: g.dims,
          shard: partialShard(g.rollup, g.dims),
          count: g.count,
          sum: g.sum,
          min: g.min,
          max: g.max,
          mean: g.mean,
          m2: g.m2,
          sketch: g.sketch.map((t) => JSON.parse(t)),
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
