import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { parquetRead, type AsyncBuffer, type ColumnData, type Compressors, type FileMetaData } from 'hyparquet';
import { chunkRange, usedChunks, type ParquetColumn, type ReadRange } from './parquetFooter.ts';
import type { ReaderOptions, ReaderStats } from './readerTypes.ts';
import type { RecordLayout, RecordSink } from './sink.ts';
import {
  END_TIME_MS,
  MAX_RECORD_DIMENSION_BYTES,
  MIN_TIME_MS,
  dimensionReason,
  epochToMs,
  isDecimalText,
  metricReason,
  parseDecimalText,
  parseTimestampText,
  recordDimensionsReason,
  showValue,
  timeRangeReason,
} from './values.ts';

/** What a partition's row groups took: the reader's counts (lines = rows), and time spent reading and decoding. */
export interface ParquetReadStats extends ReaderStats {
  readonly readMs: number;
  readonly parseMs: number;
}

/** What reading a partition of a Parquet object needs. */
export interface ParquetPartition {
  readonly read: ReadRange;
  readonly objectSize: number;
  readonly metadata: FileMetaData;
  /** The layout's columns as the footer's schema describes them (parquetColumns). */
  readonly columns: ReadonlyMap<string, ParquetColumn>;
  /** Row groups [start, end) of the file. */
  readonly rowGroups: { readonly start: number; readonly end: number };
  /** Called between row groups, e.g. to flush the aggregator: memory stays at about a row group. */
  readonly afterRowGroup?: () => Promise<void>;
}

// Snappy is hyparquet's own; node's zlib does gzip and brotli natively; fzstd (pure JS) does zstd,
// which node's zlib only has from 22.15.
const compressors: Compressors = {
  GZIP: (input) => gunzipSync(input),
  BROTLI: (input) => brotliDecompressSync(input),
  ZSTD: (input, length) => zstdDecompress(input, new Uint8Array(length)),
};

/** Floor division: a time 0.5 ms before the epoch is in the millisecond before it, as in the bucket before it. */
function floorMs(value: bigint, per: bigint): number {
  const q = value / per;
  return Number(value % per < 0n ? q - 1n : q);
}

// Timestamps of every unit (and INT96) arrive as epoch ms; dates as days, whichever type marks them.
const parsers = {
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromMicroseconds: (v: bigint) => floorMs(v, 1000n),
  timestampFromNanoseconds: (v: bigint) => floorMs(v, 1_000_000n),
  dateFromDays: (days: number) => days,
};

const DAY_MS = 86_400_000;

type Values = ArrayLike<unknown>;

/**
 * Reads a partition's row groups of a Parquet object into the sink, fetching only the column
 * chunks the layout uses (one range request per run of adjacent chunks; the next row group's are
 * fetched while this one decodes). Each row reaches the sink exactly once; a rejected row's line
 * is its 1-based row in the partition, its offset its row group's first byte, and its reason names
 * the row group, the row in it (both 0-based) and the column. A row group that cannot be decoded
 * rejects each of its rows, naming the error; a failed read throws.
 */
export async function readParquetRowGroups(part: ParquetPartition, layout: RecordLayout, sink: RecordSink, options: Pick<ReaderOptions, 'timeRange'> = {}): Promise<ParquetReadStats> {
  const { metadata, rowGroups } = part;
  const names = new Set([layout.timeColumn, ...layout.dimensions, ...layout.metrics]);
  const { minMs, endMs } = options.timeRange ?? { minMs: MIN_TIME_MS, endMs: END_TIME_MS };
  const timeFormat = layout.timeFormat;
  const time = part.columns.get(layout.timeColumn)!;
  const dimensionColumns = layout.dimensions.map((d) => part.columns.get(d)!);
  const metricColumns = layout.metrics.map((m) => part.columns.get(m)!);
  const label = (c: ParquetColumn) => `column ${JSON.stringify(c.name)}`;
  const dims: string[] = layout.dimensions.map(() => '');
  const metrics = new Float64Array(layout.metrics.length);
  // A text dimension's UTF-8 length, or -1 when it cannot be stored: values repeat (a dictionary's).
  const textBytes = new Map<string, number>();
  let rows = 0;
  let rejected = 0;
  let bytes = 0;
  let readMs = 0;
  let parseMs = 0;

  let groupStart = 0;
  for (let g = 0; g < rowGroups.start; g++) groupStart += Number(metadata.row_groups[g].num_rows);

  const fetchGroup = (g: number) => {
    const ranges = coalesce(usedChunks(metadata, g, names).map(chunkRange));
    return Promise.all(ranges.map(async (r) => ({ ...r, bytes: await part.read(r.start, r.end) })));
  };
  let next = rowGroups.start < rowGroups.end ? fetchGroup(rowGroups.start) : undefined;
  for (let g = rowGroups.start; g < rowGroups.end; g++) {
    const waited = performance.now();
    const fetched = await next!;
    next = g + 1 < rowGroups.end ? fetchGroup(g + 1) : undefined;
    // Keep a failed prefetch from being an unhandled rejection while this group decodes.
    next?.catch(() => {});
    const started = performance.now();
    readMs += started - waited;
    for (const f of fetched) bytes += f.bytes.length;
    const groupRows = Number(metadata.row_groups[g].num_rows);
    const offset = fetched.length > 0 ? fetched[0].start : 0;
    const at = (r: number) => `row group ${g}, row ${r}`;
    const reject = (r: number, reason: string, raw: string) => {
      rejected++;
      sink.reject({ line: rows + r + 1, offset, reason: `${at(r)}: ${reason}`, raw });
    };

    let data: Map<string, Values>;
    try {
      data = await decodeGroup(fetched, part.objectSize, metadata, [...names], groupStart, groupStart + groupRows);
    } catch (err) {
      const reason = `row group ${g} cannot be decoded: ${(err as Error).message}`;
      for (let r = 0; r < groupRows; r++) {
        rejected++;
        sink.reject({ line: rows + r + 1, offset, reason, raw: '' });
      }
      rows += groupRows;
      groupStart += groupRows;
      parseMs += performance.now() - started;
      await part.afterRowGroup?.();
      continue;
    }
    const raw = (r: number) => JSON.stringify(Object.fromEntries([...data].map(([name, values]) => [name, display(values[r], part.columns.get(name)!)])));
    const timeValues = data.get(time.name)!;
    const dimensionValues = dimensionColumns.map((c) => data.get(c.name)!);
    const metricValues = metricColumns.map((c) => data.get(c.name)!);

    rowLoop: for (let r = 0; r < groupRows; r++) {
      const t = timeValues[r];
      if (t === null || t === undefined) {
        reject(r, `missing time: ${label(time)} is null`, raw(r));
        continue;
      }
      const timeMs = timeOf(t, time, timeFormat);
      if (!(timeMs >= minMs && timeMs < endMs)) {
        const text = showValue(display(t, time) ?? '');
        reject(r, timeMs !== timeMs ? `${label(time)}: ${text} is not a valid ${timeFormat} timestamp` : timeRangeReason(label(time), text, timeMs, { minMs, endMs }), raw(r));
        continue;
      }
      for (let m = 0; m < metricColumns.length; m++) {
        const v = metricValues[m][r];
        if (v === null || v === undefined || v === '') {
          metrics[m] = NaN;
          continue;
        }
        const value = numberOf(v, metricColumns[m]);
        if (!(value >= -1e135 && value <= 1e135)) {
          reject(r, metricReason(label(metricColumns[m]), showValue(shown(v) ?? ''), value, typeof v === 'string' ? isDecimalText(v) : typeof v !== 'number' || v === v), raw(r));
          continue rowLoop;
        }
        metrics[m] = value;
      }
      let dimensionBytes = 0;
      for (let d = 0; d < dimensionColumns.length; d++) {
        const v = dimensionValues[d][r];
        const column = dimensionColumns[d];
        let value: string;
        let length: number;
        if (v === null || v === undefined) {
          value = '';
          length = 0;
        } else if (typeof v === 'string') {
          value = v;
          let known = textBytes.get(v);
          if (known === undefined) {
            known = dimensionReason(label(column), v, Buffer.byteLength(v)) === undefined ? Buffer.byteLength(v) : -1;
            if (textBytes.size >= 65_536) textBytes.clear();
            textBytes.set(v, known);
          }
          if (known < 0) {
            reject(r, dimensionReason(label(column), v, Buffer.byteLength(v))!, raw(r));
            continue rowLoop;
          }
          length = known;
        } else {
          value = dimensionText(v, column);
          length = value.length;
        }
        dimensionBytes += length;
        if (dimensionBytes > MAX_RECORD_DIMENSION_BYTES) {
          reject(r, recordDimensionsReason(label(column), dimensionBytes), raw(r));
          continue rowLoop;
        }
        dims[d] = value;
      }
      sink.accept(timeMs, dims, metrics);
    }
    rows += groupRows;
    groupStart += groupRows;
    parseMs += performance.now() - started;
    await part.afterRowGroup?.();
  }
  return { records: rows, rejected, lines: rows, bytes, readMs, parseMs };
}

/** Byte ranges in file order, touching or overlapping ones merged (unused columns between them are not read). */
function coalesce(ranges: { start: number; end: number }[]): { start: number; end: number }[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** Decodes one row group's columns from the fetched chunk bytes: each column's values, one per row. */
async function decodeGroup(
  fetched: readonly { start: number; end: number; bytes: Uint8Array }[],
  objectSize: number,
  metadata: FileMetaData,
  columns: string[],
  rowStart: number,
  rowEnd: number,
): Promise<Map<string, Values>> {
  // hyparquet asks for one span over the chunks it wants, unused columns' chunks between them
  // included, then decodes only its own chunks from it: the span is assembled from the fetched
  // chunks and the bytes nobody fetched stay zero, never decoded.
  const file: AsyncBuffer = {
    byteLength: objectSize,
    slice(start, end = objectSize) {
      const out = new Uint8Array(end - start);
      let covered = 0;
      for (const f of fetched) {
        const from = Math.max(start, f.start);
        const to = Math.min(end, f.end);
        if (from >= to) continue;
        out.set(f.bytes.subarray(from - f.start, to - f.start), from - start);
        covered += to - from;
      }
      if (covered === 0) throw new Error(`the decoder asked for bytes ${start}-${end}, outside the column chunks the footer names`);
      return out.buffer;
    },
  };
  const pieces = new Map<string, ColumnData[]>();
  await parquetRead({
    file,
    metadata,
    columns,
    rowStart,
    rowEnd,
    compressors,
    parsers,
    utf8: true,
    onChunk: (chunk) => {
      const list = pieces.get(chunk.columnName);
      if (list) list.push(chunk);
      else pieces.set(chunk.columnName, [chunk]);
    },
  });
  const out = new Map<string, Values>();
  for (const name of columns) {
    const list = (pieces.get(name) ?? []).sort((a, b) => a.rowStart - b.rowStart);
    const values = list.length === 1 ? list[0].columnData : list.flatMap((p) => Array.from(p.columnData as ArrayLike<unknown>));
    if (values.length !== rowEnd - rowStart) throw new Error(`column ${JSON.stringify(name)} decoded to ${values.length} values for ${rowEnd - rowStart} rows`);
    out.set(name, values);
  }
  return out;
}

/** A time value as epoch ms (NaN when it is not a valid time in the dataset's format). */
function timeOf(v: unknown, column: ParquetColumn, timeFormat: RecordLayout['timeFormat']): number {
  switch (column.kind) {
    case 'timestamp':
      return v as number;
    case 'date':
      return (v as number) * DAY_MS;
    case 'text':
      return parseTimestampText(v as string, timeFormat);
    default:
      // A number of the dataset's epoch unit (parquetColumns refused numbers for other formats).
      return epochToMs(numberOf(v, column), timeFormat as 'epoch_s' | 'epoch_ms');
  }
}

/** A metric (or epoch) value as a number: NaN for text that is not a decimal number. */
function numberOf(v: unknown, column: ParquetColumn): number {
  if (typeof v === 'number') return column.rawDecimalScale ? v / 10 ** column.rawDecimalScale : v;
  if (typeof v === 'bigint') return column.rawDecimalScale ? Number(v) / 10 ** column.rawDecimalScale : Number(v);
  if (typeof v === 'string') return parseDecimalText(v);
  if (v instanceof Uint8Array) return unscaled(v) / 10 ** (column.rawDecimalScale ?? 0);
  return NaN;
}

/** A big-endian two's-complement integer (a FIXED_LEN_BYTE_ARRAY decimal's unscaled value). */
function unscaled(bytes: Uint8Array): number {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  if (bytes.length > 0 && bytes[0] & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return Number(value);
}

/** A non-text dimension value as text: numbers as JavaScript writes them, times in ISO 8601 (UTC). */
function dimensionText(v: unknown, column: ParquetColumn): string {
  // Years past 9999 as "11476-…", not Date's "+011476-…".
  if (column.kind === 'timestamp') return new Date(v as number).toISOString().replace(/^\+0/, '');
  if (column.kind === 'date') return new Date((v as number) * DAY_MS).toISOString().slice(0, 10);
  if (column.kind === 'number') return String(column.rawDecimalScale ? numberOf(v, column) : v);
  return String(v);
}

/** A value as a reject quotes it: times in ISO 8601 where Date can write them, bigints and bytes as text. */
function display(v: unknown, column: ParquetColumn): string | null {
  if (typeof v === 'number' && (column.kind === 'timestamp' || column.kind === 'date')) {
    const ms = column.kind === 'date' ? v * DAY_MS : v;
    return Math.abs(ms) <= 8.64e15 ? dimensionText(v, column) : `${v} ${column.kind === 'date' ? 'days' : 'ms'} since 1970-01-01`;
  }
  return shown(v);
}

/** A value as text (bigints and bytes included, which JSON cannot hold). */
function shown(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return String(v);
}
