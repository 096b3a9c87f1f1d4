import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FOOTER_PROBE_BYTES, ParquetFileError, parquetColumns, readParquetFooter } from '../../../lib/parse/parquetFooter.ts';
import type { RecordLayout } from '../../../lib/parse/sink.ts';
import { openDuck, type Duck } from './parquetDuckdb.ts';

let duck: Duck;
beforeAll(async () => {
  duck = await openDuck();
});
afterAll(() => duck?.close());

/** A file's bytes and a range reader over them that logs each read. */
function rangeReader(file: string) {
  const bytes = readFileSync(file);
  const reads: [number, number][] = [];
  const read = async (s: number, e: number) => {
    reads.push([s, e]);
    return bytes.subarray(s, e);
  };
  return { bytes, reads, read };
}

describe('readParquetFooter', () => {
  it('reads a small footer with one range request at the object’s end', async () => {
    // Prepare
    const file = join(duck.dir, 'small.parquet');
    await duck.run(`copy (select i, 'x' || i as s from range(5000) r(i)) to '${file}' (format parquet, row_group_size 2048)`);
    const [{ groups }] = await duck.rows(`select count(distinct row_group_id)::int as groups from parquet_metadata('${file}')`);
    const { bytes, reads, read } = rangeReader(file);

    // Act
    const metadata = await readParquetFooter(read, bytes.length);

    // Assess
    expect(reads).toEqual([[Math.max(0, bytes.length - FOOTER_PROBE_BYTES), bytes.length]]);
    expect(metadata.row_groups.length).toBe(groups);
    expect(Number(metadata.num_rows)).toBe(5000);
  });

  it('reads a footer longer than the probe with a second request for the rest', async () => {
    // Prepare: 200 columns × 5 row groups of statistics make a footer of well over 64 KiB.
    const file = join(duck.dir, 'wide.parquet');
    const columns = Array.from({ length: 200 }, (_, c) => `i * ${c} as c${c}`).join(', ');
    await duck.run(`copy (select ${columns} from range(10000) r(i)) to '${file}' (format parquet, row_group_size 2048)`);
    const { bytes, reads, read } = rangeReader(file);
    const footerLength = bytes.readUInt32LE(bytes.length - 8);

    // Act
    const metadata = await readParquetFooter(read, bytes.length);

    // Assess
    expect(footerLength).toBeGreaterThan(FOOTER_PROBE_BYTES);
    expect(reads).toEqual([
      [bytes.length - FOOTER_PROBE_BYTES, bytes.length],
      [bytes.length - footerLength - 8, bytes.length],
    ]);
    expect(Number(metadata.num_rows)).toBe(10000);
    expect(metadata.schema.length).toBe(201);
  });

  it('refuses an object that is not Parquet, or a truncated one, naming what is wrong', async () => {
    // Prepare
    const csv = Buffer.from('ts,region\n2024-01-01T00:00:00Z,north\n');
    const file = join(duck.dir, 'cut.parquet');
    await duck.run(`copy (select i from range(100) r(i)) to '${file}' (format parquet)`);
    const cut = readFileSync(file).subarray(0, 200);
    const over = (b: Buffer) => async (s: number, e: number) => b.subarray(s, e);

    // Act
    const fromCsv = readParquetFooter(over(csv), csv.length);
    const fromCut = readParquetFooter(over(cut), cut.length);
    const fromTiny = readParquetFooter(over(Buffer.from('PAR1')), 4);

    // Assess
    await expect(fromCsv).rejects.toThrow(ParquetFileError);
    await expect(fromCsv).rejects.toThrow('object is not Parquet: it ends with "rth\\n", not the magic "PAR1"');
    await expect(fromCut).rejects.toThrow(/object is not Parquet: it ends with .*, not the magic "PAR1"/);
    await expect(fromTiny).rejects.toThrow('fewer than the 12 of an empty Parquet file');
  });
});

describe('parquetColumns', () => {
  const layout = (over: Partial<RecordLayout>): RecordLayout => ({ format: 'parquet', columns: [], timeColumn: 'ts', timeFormat: 'iso', dimensions: [], metrics: ['n'], ...over });
  let file: string;
  let lz4: string;
  beforeAll(async () => {
    file = join(duck.dir, 'kinds.parquet');
    lz4 = join(duck.dir, 'lz4.parquet');
    const select = `select timestamp '2024-01-01' + i * interval 1 minute as ts, i % 2 = 0 as flag, i::integer as n, {'a': i} as s, [i, i] as l, time '12:00:00' as t from range(10) r(i)`;
    await duck.run(`copy (${select}) to '${file}' (format parquet)`);
    await duck.run(`copy (${select}) to '${lz4}' (format parquet, compression lz4)`);
  }, 60_000);

  async function problemsOf(path: string, l: RecordLayout): Promise<string[]> {
    const { bytes, read } = rangeReader(path);
    return parquetColumns(await readParquetFooter(read, bytes.length), l).problems;
  }

  it('accepts the columns a dataset can use, with their kinds', async () => {
    // Prepare
    const { bytes, read } = rangeReader(file);

    // Act
    const { columns, problems } = parquetColumns(await readParquetFooter(read, bytes.length), layout({ dimensions: ['flag'], metrics: ['n'] }));

    // Assess
    expect(problems).toEqual([]);
    expect([...columns.values()].map((c) => [c.name, c.kind])).toEqual([
      ['ts', 'timestamp'],
      ['flag', 'boolean'],
      ['n', 'number'],
    ]);
  });

  it('names every column the dataset cannot use, and why', async () => {
    // Act
    const problems = await problemsOf(file, layout({ timeColumn: 'n', dimensions: ['s', 'l', 't', 'nope'], metrics: ['ts', 'flag'] }));

    // Assess
    expect(problems).toEqual([
      'Parquet schema lacks column "nope" (its columns: ts,flag,n,s,l,t)',
      'column "n" is INT32 (INT_32), a number: set the dataset\'s timeFormat to an epoch unit (it is "iso")',
      'column "s" is nested (a group, list or map): only top-level primitive columns can be read',
      'column "l" is nested (a group, list or map): only top-level primitive columns can be read',
      'column "t" is INT64 (TIME), a type batchflow does not read',
      'column "ts" is INT64 (TIMESTAMP MICROS, not adjusted to UTC): a metric must be a number (or a string holding one)',
      'column "flag" is BOOLEAN: a metric must be a number (or a string holding one)',
    ]);
  });

  it('refuses a boolean time column, and a codec the reader lacks', async () => {
    // Act
    const booleanTime = await problemsOf(file, layout({ timeColumn: 'flag' }));
    const lz4Codec = await problemsOf(lz4, layout({}));

    // Assess
    expect(booleanTime).toEqual(['column "flag" is BOOLEAN: a time column must be a timestamp, a date, a string or an epoch number']);
    expect(lz4Codec).toEqual(['compression LZ4_RAW cannot be read (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD, BROTLI)']);
  });
});
