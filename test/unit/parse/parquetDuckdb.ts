import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parquetColumns, readParquetFooter } from '../../../lib/parse/parquetFooter.ts';
import { readParquetRowGroups, type ParquetReadStats } from '../../../lib/parse/parquetReader.ts';
import type { ReaderOptions } from '../../../lib/parse/readerTypes.ts';
import type { RecordLayout, RejectedRecord } from '../../../lib/parse/sink.ts';

/**
 * DuckDB as the Parquet tests' writer and oracle: it writes the files (COPY … TO … (FORMAT
 * parquet)) and answers, by its own reader, what each file holds; the tests read the same bytes
 * with batchflow's reader and compare.
 */

export interface Duck {
  readonly dir: string;
  /** Rows of a query, as plain JS values (BIGINT as bigint, DOUBLE as number, NULL as null). */
  rows(sql: string): Promise<Record<string, unknown>[]>;
  run(sql: string): Promise<void>;
  close(): void;
}

/** An in-memory DuckDB and a fresh directory for the files it writes. */
export async function openDuck(): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:');
  const con: DuckDBConnection = await instance.connect();
  return {
    dir: mkdtempSync(join(tmpdir(), 'batchflow-parquet-')),
    async rows(sql) {
      return (await con.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
    },
    async run(sql) {
      await con.run(sql);
    },
    close() {
      con.closeSync();
      instance.closeSync();
    },
  };
}

/** SQL for ⌊a / m⌋ of integers, exact (DuckDB's `//` truncates toward zero). */
export function floorDiv(a: string, m: number): string {
  return `((${a}) - ((((${a}) % ${m}) + ${m}) % ${m})) // ${m}`;
}

/** A column chunk as DuckDB's parquet_metadata() lists it. */
export interface ChunkRow {
  readonly group: number;
  readonly column: string;
  readonly start: number;
  readonly end: number;
}

/** Every column chunk of a file, by DuckDB: where batchflow's reader may read, and where not. */
export async function chunksOf(duck: Duck, file: string): Promise<ChunkRow[]> {
  const rows = await duck.rows(`
    select row_group_id as g, path_in_schema as c, coalesce(dictionary_page_offset, data_page_offset) as s, total_compressed_size as n
    from parquet_metadata('${file}') order by g, s`);
  return rows.map((r) => ({ group: Number(r.g), column: String(r.c), start: Number(r.s), end: Number(r.s) + Number(r.n) }));
}

/** The first row of each row group and the total, by DuckDB: [0, n0, n0 + n1, …, rows]. */
export async function groupStarts(duck: Duck, file: string): Promise<number[]> {
  const rows = await duck.rows(`select distinct row_group_id as g, row_group_num_rows as n from parquet_metadata('${file}') order by g`);
  const starts = [0];
  for (const r of rows) starts.push(starts[starts.length - 1] + Number(r.n));
  return starts;
}

/** What batchflow's reader made of a file's row groups: accepted records, rejects, stats and reads. */
export interface ReadResult {
  readonly records: { t: number; dims: string[]; metrics: number[] }[];
  readonly rejects: RejectedRecord[];
  readonly stats: ParquetReadStats;
  /** The reader's range reads [start, end), the footer's excluded. */
  readonly reads: [number, number][];
}

/** Reads row groups [start, end) of a file (all by default) as a processor would, through range reads of its bytes. */
export async function readWithBatchflow(
  file: string,
  layout: Omit<RecordLayout, 'format' | 'columns'>,
  rowGroups?: { start: number; end: number },
  options: Pick<ReaderOptions, 'timeRange'> = {},
): Promise<ReadResult> {
  const bytes = readFileSync(file);
  const reads: [number, number][] = [];
  const read = async (s: number, e: number) => bytes.subarray(s, e);
  const metadata = await readParquetFooter(read, bytes.length);
  const full: RecordLayout = { format: 'parquet', columns: [], ...layout };
  const { columns, problems } = parquetColumns(metadata, full);
  if (problems.length > 0) throw new Error(problems.join('; '));
  const records: ReadResult['records'] = [];
  const rejects: RejectedRecord[] = [];
  const stats = await readParquetRowGroups(
    {
      read: async (s, e) => {
        reads.push([s, e]);
        return read(s, e);
      },
      objectSize: bytes.length,
      metadata,
      columns,
      rowGroups: rowGroups ?? { start: 0, end: metadata.row_groups.length },
    },
    full,
    { accept: (t, dims, metrics) => records.push({ t, dims: [...dims], metrics: [...metrics] }), reject: (r) => rejects.push(r) },
    options,
  );
  return { records, rejects, stats, reads };
}
