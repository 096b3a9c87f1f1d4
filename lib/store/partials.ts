import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { RollupGroup } from '../rollup/aggregator.ts';
import type { Db, Tx } from './db.ts';

/**
 * Partial aggregates: what a partition merged, appended to `rollup_partials` inside the
 * transaction that completes it, one row per group. With COPY (the default) rows stream to
 * Postgres in its binary format; for servers without COPY FROM STDIN over the wire (PGlite, the zero-install
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

/** Bytes accumulated before a write to the COPY stream: large enough that calls are few. */
const COPY_CHUNK_BYTES = 1 << 20;

function copyWriter(tx: Tx, db: Db, source: PartialSource): PartialWriter {
  const encoder = new BinaryRowEncoder(source);
  return {
    async write(groups) {
      let rows = 0;
      let stream: Writable | undefined;
      let done: Promise<void> | undefined;
      const flush = async (chunk: Buffer) => {
        if (!stream) {
          stream = await tx`copy ${db.table('rollup_partials')} (${tx(COLUMNS)}) from stdin (format binary)`.writable();
          done = finished(stream);
          // Seen by `await done` below; without a handler an early error would be unhandled.
          done.catch(() => {});
        }
        if (!stream.write(chunk)) await Promise.race([new Promise((resolve) => stream!.once('drain', resolve)), done]);
      };
      encoder.start();
      for (const g of groups) {
        encoder.row(g);
        rows++;
        if (encoder.length >= COPY_CHUNK_BYTES) await flush(encoder.take());
      }
      if (rows === 0) return 0;
      await flush(encoder.end());
      stream!.end();
      await done;
      return rows;
    },
  };
}

// COPY's binary format (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4):
// a signature, flags and header extension length; per row a field count and each field as a length
// (−1: NULL) and the type's binary form (its send function's output); an int16 −1 at the end. Postgres
// then parses no text at all: the COPY costs it a fraction of the text format, and formatting a
// double costs the processor a write of 8 bytes instead of String(x).
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const TEXT_OID = 25;
const FLOAT8_OID = 701;
/** timestamptz is microseconds since 2000-01-01T00:00:00Z. */
const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);

/** Encodes partial rows in COPY's binary format into a growing buffer. */
export class BinaryRowEncoder {
  private buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES * 2);
  private pos = 0;
  /** Per combination of values (the aggregator's dims array): field count, dataset, rollup, dims, shard. */
  private readonly prefixes = new Map<readonly string[], Buffer>();
  private readonly middle: Buffer;
  private readonly head: Buffer;

  constructor(source: PartialSource) {
    this.head = textField(source.dataset);
    this.middle = Buffer.concat([int64Field(source.jobId), int32Field(source.idx), textArrayField(source.metrics)]);
  }

  get length(): number {
    return this.pos;
  }

  /** Begins a COPY: the header. */
  start(): void {
    this.pos = 0;
    this.bytes(SIGNATURE);
    this.int32(0);
    this.int32(0);
  }

  row(g: RollupGroup): void {
    let prefix = this.prefixes.get(g.dims);
    if (prefix === undefined) {
      const count = Buffer.alloc(2);
      count.writeInt16BE(COLUMNS.length);
      prefix = Buffer.concat([count, this.head, textField(g.rollup), textArrayField(g.dims), int16Field(partialShard(g.rollup, g.dims))]);
      this.prefixes.set(g.dims, prefix);
    }
    const stats = g.stats;
    const sketchBytes = g.sketches === null ? 0 : g.sketches.length;
    this.ensure(prefix.length + 12 + this.middle.length + 24 + 12 * stats.length + 5 + sketchBytes);
    this.bytes(prefix);
    // bucket_start in microseconds: past 2^53 (before ~1715 or after ~2285) a double is exact only for
    // multiples of a power of two, and a bucket start (a whole minute at least) times 1000 is a multiple
    // of 2^8, exact up to 2^61 µs: every year 0–9999 (the calendar test compacts both ends).
    this.int32(8);
    this.int64((g.bucketStart - POSTGRES_EPOCH_MS) * 1000);
    this.bytes(this.middle);
    // stats: a one-dimensional float8[] from 1; NaN (a missing min or max) is a NULL element.
    let nulls = 0;
    for (let i = 0; i < stats.length; i++) if (stats[i] !== stats[i]) nulls++;
    this.int32(20 + 12 * stats.length - 8 * nulls);
    this.int32(1);
    this.int32(nulls > 0 ? 1 : 0);
    this.int32(FLOAT8_OID);
    this.int32(stats.length);
    this.int32(1);
    for (let i = 0; i < stats.length; i++) {
      const x = stats[i];
      if (x !== x) {
        this.int32(-1);
        continue;
      }
      this.int32(8);
      this.buf.writeDoubleBE(x, this.pos);
      this.pos += 8;
    }
    // sketches: jsonb is a version byte (1) and the JSON text; NULL in the single-value form.
    if (g.sketches === null) {
      this.int32(-1);
      return;
    }
    this.int32(1 + sketchBytes);
    this.buf[this.pos++] = 1;
    this.buf.set(g.sketches, this.pos);
    this.pos += sketchBytes;
  }

  /** The rows so far, leaving the buffer empty for more. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  /** The rows so far and the trailer. */
  end(): Buffer {
    this.ensure(2);
    this.buf.writeInt16BE(-1, this.pos);
    this.pos += 2;
    return this.take();
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  private bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  private int32(x: number): void {
    this.buf.writeInt32BE(x, this.pos);
    this.pos += 4;
  }

  private int64(x: number): void {
    // Two halves (division by 2^32 is exact): exact for every integer a double holds exactly.
    const high = Math.floor(x / 4294967296);
    this.buf.writeInt32BE(high, this.pos);
    this.buf.writeUInt32BE(x - high * 4294967296, this.pos + 4);
    this.pos += 8;
  }
}

function textField(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeInt32BE(bytes.length);
  bytes.copy(out, 4);
  return out;
}

/** A text[] field: one dimension from 1 (or none, for an empty array), no NULLs. */
function textArrayField(values: readonly string[]): Buffer {
  const elements = values.map((v) => Buffer.from(v, 'utf8'));
  const header = Buffer.allocUnsafe(values.length === 0 ? 16 : 24);
  header.writeInt32BE(header.length - 4 + elements.reduce((n, e) => n + 4 + e.length, 0), 0);
  header.writeInt32BE(values.length === 0 ? 0 : 1, 4);
  header.writeInt32BE(0, 8);
  header.writeInt32BE(TEXT_OID, 12);
  if (values.length > 0) {
    header.writeInt32BE(values.length, 16);
    header.writeInt32BE(1, 20);
  }
  return Buffer.concat([header, ...elements.flatMap((e) => [int32(e.length), e])]);
}

function int32(x: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(x);
  return b;
}

function int16Field(x: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeInt32BE(2);
  b.writeInt16BE(x, 4);
  return b;
}

function int32Field(x: number): Buffer {
  return Buffer.concat([int32(4), int32(x)]);
}

function int64Field(x: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeInt32BE(8);
  const high = Math.floor(x / 4294967296);
  b.writeInt32BE(high, 4);
  b.writeUInt32BE(x - high * 4294967296, 8);
  return b;
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
          sketches: g.sketches === null ? null : JSON.parse(Buffer.from(g.sketches).toString('utf8')),
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
