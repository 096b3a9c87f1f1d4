import { parquetMetadata, parquetSchema, type ColumnMetaData, type FileMetaData, type SchemaElement } from 'hyparquet';
import { BatchflowError } from '../errors.ts';
import type { RecordLayout } from './sink.ts';

/*
 * A Parquet object's footer (https://parquet.apache.org/docs/file-format/): the file ends with the
 * Thrift-encoded FileMetaData, its 4-byte little-endian length and the magic "PAR1". The footer
 * names every row group and, per column, the byte range of its chunk: the splitter plans whole row
 * groups from it and a processor reads only its row groups' chunks of the columns the dataset uses.
 */

/** An object that is not a readable Parquet file, or whose schema the dataset cannot use. */
export class ParquetFileError extends BatchflowError {
  override name = 'ParquetFileError';
}

/** Reads bytes [start, end) of the object (one range request). */
export type ReadRange = (start: number, end: number) => Promise<Uint8Array>;

/** The tail read first: most footers fit (DuckDB's of 17 row groups × 5 columns is ~10 KiB), so one request. */
export const FOOTER_PROBE_BYTES = 64 * 1024;

const MAGIC = 'PAR1';
/** Parquet Modular Encryption's magic: the footer itself is encrypted. */
const ENCRYPTED_MAGIC = 'PARE';

/**
 * The object's footer, read with one range request (two when the footer is longer than
 * FOOTER_PROBE_BYTES). Throws ParquetFileError when the object is not Parquet.
 */
export async function readParquetFooter(read: ReadRange, objectSize: number): Promise<FileMetaData> {
  if (objectSize < 12) throw new ParquetFileError(`object is not Parquet: ${objectSize} bytes, fewer than the 12 of an empty Parquet file`);
  let tail = await read(Math.max(0, objectSize - FOOTER_PROBE_BYTES), objectSize);
  const magic = Buffer.from(tail.buffer, tail.byteOffset + tail.length - 4, 4).toString('latin1');
  if (magic === ENCRYPTED_MAGIC) throw new ParquetFileError('object is an encrypted Parquet file (footer magic "PARE"): encrypted footers cannot be read');
  if (magic !== MAGIC) throw new ParquetFileError(`object is not Parquet: it ends with ${JSON.stringify(magic)}, not the magic "PAR1"`);
  const footerLength = new DataView(tail.buffer, tail.byteOffset + tail.length - 8, 4).getUint32(0, true);
  if (footerLength + 12 > objectSize) {
    throw new ParquetFileError(`object is not Parquet: its footer length ${footerLength} exceeds the object's ${objectSize} bytes`);
  }
  if (footerLength + 8 > tail.length) tail = await read(objectSize - footerLength - 8, objectSize);
  const footer = tail.subarray(tail.length - footerLength - 8);
  try {
    // A copy: the metadata parser wants an ArrayBuffer of its own, ending with the footer (a
    // Buffer's slice() is a view of Node's shared pool).
    const own = new Uint8Array(footer.length);
    own.set(footer);
    return parquetMetadata(own.buffer, { geoparquet: false });
  } catch (err) {
    throw new ParquetFileError(`object's Parquet footer cannot be read: ${(err as Error).message}`);
  }
}

/**
 * How a column's values reach the record: `timestamp` (INT64 TIMESTAMP of any unit, either UTC
 * adjustment, and INT96, all as epoch ms), `date` (days), `number` (ints, floats, decimals),
 * `text` (strings), `boolean`.
 */
export type ColumnKind = 'timestamp' | 'date' | 'number' | 'text' | 'boolean';

/** A top-level column the dataset uses: its kind and, for a decimal written without its converted type, its scale. */
export interface ParquetColumn {
  readonly name: string;
  readonly kind: ColumnKind;
  /** The Parquet type as a reason names it, e.g. `INT64 (TIMESTAMP MICROS)`. */
  readonly type: string;
  /** Set when the reader scales raw unscaled integers itself (a logical DECIMAL with no converted type). */
  readonly rawDecimalScale?: number;
}

/** The kind of a primitive column, or undefined when it is none batchflow reads (INTERVAL, TIME, …). */
function kindOf(e: SchemaElement): Pick<ParquetColumn, 'kind' | 'rawDecimalScale'> | undefined {
  const logical = e.logical_type?.type;
  if (e.converted_type === 'DECIMAL') return { kind: 'number' };
  if (logical === 'DECIMAL') {
    // hyparquet scales only decimals that carry the converted type; the rest arrive unscaled.
    if (e.type === 'BYTE_ARRAY') return undefined;
    return { kind: 'number', rawDecimalScale: e.logical_type?.type === 'DECIMAL' ? e.logical_type.scale : 0 };
  }
  if (e.type === 'INT96' || logical === 'TIMESTAMP' || e.converted_type === 'TIMESTAMP_MILLIS' || e.converted_type === 'TIMESTAMP_MICROS') return { kind: 'timestamp' };
  if (logical === 'DATE' || e.converted_type === 'DATE') return { kind: 'date' };
  if (logical === 'TIME' || e.converted_type === 'TIME_MILLIS' || e.converted_type === 'TIME_MICROS' || e.converted_type === 'INTERVAL') return undefined;
  if (logical === 'FLOAT16') return { kind: 'number' };
  if (logical === 'UUID' || logical === 'JSON' || logical === 'BSON' || logical === 'VARIANT' || logical === 'GEOMETRY' || logical === 'GEOGRAPHY') return undefined;
  switch (e.type) {
    case 'BOOLEAN':
      return { kind: 'boolean' };
    case 'INT32':
    case 'INT64':
    case 'FLOAT':
    case 'DOUBLE':
      return { kind: 'number' };
    case 'BYTE_ARRAY':
      return { kind: 'text' };
    default:
      return undefined;
  }
}

function typeName(e: SchemaElement): string {
  const l = e.logical_type;
  const detail =
    l?.type === 'TIMESTAMP'
      ? `TIMESTAMP ${l.unit}${l.isAdjustedToUTC ? '' : ', not adjusted to UTC'}`
      : l?.type === 'DECIMAL'
        ? `DECIMAL(${l.precision},${l.scale})`
        : (l?.type ?? e.converted_type);
  return `${e.type ?? 'group'}${detail ? ` (${detail})` : ''}`;
}

/**
 * The columns the layout uses (time, dimensions, metrics) as the footer's schema describes them,
 * or every problem: a column missing or nested, a time or metric column of a type that cannot be
 * one, a compression codec the reader lacks. Each problem names the column.
 */
export function parquetColumns(metadata: FileMetaData, layout: RecordLayout): { columns: Map<string, ParquetColumn>; problems: string[] } {
  const top = new Map(parquetSchema(metadata).children.map((c) => [c.element.name, c]));
  const problems: string[] = [];
  const columns = new Map<string, ParquetColumn>();
  const uses: [string, 'time' | 'dimension' | 'metric'][] = [
    [layout.timeColumn, 'time'],
    ...layout.dimensions.map((d) => [d, 'dimension'] as [string, 'dimension']),
    ...layout.metrics.map((m) => [m, 'metric'] as [string, 'metric']),
  ];
  const missing = uses.filter(([name]) => !top.has(name)).map(([name]) => JSON.stringify(name));
  if (missing.length > 0) {
    problems.push(`Parquet schema lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (its columns: ${[...top.keys()].join(',')})`);
  }
  for (const [name, use] of uses) {
    const node = top.get(name);
    if (!node) continue;
    const e = node.element;
    const column = `column ${JSON.stringify(name)}`;
    if (node.children.length > 0 || e.repetition_type === 'REPEATED') {
      problems.push(`${column} is nested (a group, list or map): only top-level primitive columns can be read`);
      continue;
    }
    const kind = kindOf(e);
    if (!kind) {
      problems.push(`${column} is ${typeName(e)}, a type batchflow does not read`);
      continue;
    }
    if (use === 'time' && kind.kind === 'boolean') problems.push(`${column} is ${typeName(e)}: a time column must be a timestamp, a date, a string or an epoch number`);
    if (use === 'time' && kind.kind === 'number' && !layout.timeFormat.startsWith('epoch')) {
      problems.push(`${column} is ${typeName(e)}, a number: set the dataset's timeFormat to an epoch unit (it is "${layout.timeFormat}")`);
    }
    if (use === 'metric' && kind.kind !== 'number' && kind.kind !== 'text') problems.push(`${column} is ${typeName(e)}: a metric must be a number (or a string holding one)`);
    columns.set(name, { name, type: typeName(e), ...kind });
  }
  const codecs = new Set<string>();
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (!meta || !columns.has(meta.path_in_schema[0])) continue;
      if (chunk.file_path) problems.push(`column ${JSON.stringify(meta.path_in_schema[0])} lives in another file (${JSON.stringify(chunk.file_path)})`);
      if (!SUPPORTED_CODECS.has(meta.codec)) codecs.add(meta.codec);
    }
  }
  if (codecs.size > 0) problems.push(`compression ${[...codecs].join(', ')} cannot be read (supported: ${[...SUPPORTED_CODECS].join(', ')})`);
  return { columns, problems };
}

/** The schema's top-level column names, in file order: a Parquet job's `columns`. */
export function topLevelColumns(metadata: FileMetaData): string[] {
  return parquetSchema(metadata).children.map((c) => c.element.name);
}

/** The codecs the reader decompresses (parquetReader.ts). */
export const SUPPORTED_CODECS: ReadonlySet<string> = new Set(['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'ZSTD', 'BROTLI']);

/** Bytes [start, end) of a column chunk in the file (its dictionary page first, when it has one). */
export function chunkRange(meta: ColumnMetaData): { start: number; end: number } {
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
  return { start, end: start + Number(meta.total_compressed_size) };
}

/** The chunks of a row group that hold the given columns. */
export function usedChunks(metadata: FileMetaData, group: number, columns: ReadonlySet<string>): ColumnMetaData[] {
  return metadata.row_groups[group].columns.flatMap((c) => (c.meta_data && columns.has(c.meta_data.path_in_schema[0]) ? [c.meta_data] : []));
}
