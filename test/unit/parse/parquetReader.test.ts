import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunksOf, floorDiv, groupStarts, openDuck, readWithBatchflow, type Duck } from './parquetDuckdb.ts';

/**
 * The Parquet reader against DuckDB reading the same files: DuckDB writes every type, encoding and
 * codec the reader supports, and its own reader (with SQL doing the unit arithmetic) is the
 * expectation for every accepted record, every reject and every byte read.
 */

let duck: Duck;

// 7,000 rows: DuckDB rounds row groups to its 2,048-row vectors, so ROW_GROUP_SIZE 2048 makes 4.
const SOURCE = `
create table src as
select
  i::bigint as id,
  make_timestamp(us) as ts_us,
  make_timestamp(us)::timestamptz as ts_tz,
  make_timestamp(us)::timestamp_ms as ts_ms,
  make_timestamp_ns(us * 1000 + i % 1000) as ts_ns,
  strftime(make_timestamp(us), '%Y-%m-%dT%H:%M:%S.%gZ') as ts_text,
  date '1969-12-20' + (i % 40)::int as d,
  case when i % 17 = 3 then null else 'r' || (i % 5) end as region,
  case when i % 13 = 4 then null else (i % 11)::integer end as code,
  (i % 20 + 1)::integer as qty,
  (i * 1000003 - 500000000)::bigint as big,
  ((i % 97) * 0.25 - 3)::float as f,
  case when i % 7 = 2 then null else exp(((i * 7919) % 1000) / 200.0) end as dbl,
  ((i % 500) * 0.37 - 20)::decimal(9,2) as dec9,
  (((i * 12345) % 10000000) / 10000.0 - 300)::decimal(18,4) as dec18,
  (((i * 54321) % 100000000) / 1000000.0)::decimal(38,6) as dec38,
  case when i % 19 = 6 then null else printf('%.2f', (i % 1000) / 3.0) end as amount_text
from (select i, -3600000000::bigint + i * 1234567891 as us from range(7000) r(i))`;

/** Each time column and, in SQL over DuckDB's reading of it, its epoch ms (floored). */
const TIME_COLUMNS: Record<string, string> = {
  ts_us: floorDiv('epoch_us(ts_us)', 1000),
  ts_tz: floorDiv('epoch_us(ts_tz)', 1000),
  ts_ms: 'epoch_ms(ts_ms)',
  ts_ns: floorDiv('epoch_ns(ts_ns)', 1_000_000),
  ts_text: 'epoch_ms(ts_text::timestamptz)',
  d: `date_diff('day', date '1970-01-01', d) * 86400000`,
};
const METRICS = ['qty', 'big', 'f', 'dbl', 'dec9', 'dec18', 'dec38', 'amount_text'];
const METRIC_SQL = ['qty::double', 'big::double', 'f::double', 'dbl', 'dec9::double', 'dec18::double', 'dec38::double', 'try_cast(amount_text as double)'];

/** DuckDB's reading of rows [from, to) of a file, as the sink receives them (null metrics as NaN, null dimensions as ''). */
async function expectedRecords(file: string, timeColumn: string, dimensions: string[], from = 0, to = Infinity) {
  const dimSql = dimensions.map((d) => (d === 'd' ? `coalesce(strftime(d, '%Y-%m-%d'), '')` : `coalesce(${d}::varchar, '')`));
  const rows = await duck.rows(`
    select (${TIME_COLUMNS[timeColumn]})::double as t, [${dimSql.join(', ')}] as dims, [${METRIC_SQL.join(', ')}] as metrics
    from read_parquet('${file}', file_row_number = true)
    where file_row_number >= ${from} ${Number.isFinite(to) ? `and file_row_number < ${to}` : ''}
    order by file_row_number`);
  return rows.map((r) => ({ t: r.t as number, dims: r.dims as string[], metrics: (r.metrics as (number | null)[]).map((m) => m ?? NaN) }));
}

const FILES = ['uncompressed', 'snappy', 'gzip', 'zstd', 'brotli'].flatMap((codec) =>
  [
    { encoding: 'dictionary', options: '' },
    { encoding: 'plain', options: ', dictionary_size_limit 1' },
  ].flatMap(({ encoding, options }) =>
    ['V1', 'V2'].map((version) => ({ name: `${codec}-${encoding}-${version}`, options: `compression ${codec}, row_group_size 2048, parquet_version ${version}${options}` })),
  ),
);

beforeAll(async () => {
  duck = await openDuck();
  await duck.run(SOURCE);
  for (const f of FILES) await duck.run(`copy src to '${join(duck.dir, `${f.name}.parquet`)}' (format parquet, ${f.options})`);
  // Twenty files: seconds on a busy machine.
}, 120_000);

afterAll(() => duck?.close());

describe('the Parquet reader against DuckDB', () => {
  it('writes files of every codec and encoding the reader claims (DuckDB metadata says so)', async () => {
    // Prepare
    const files = FILES.map((f) => join(duck.dir, `${f.name}.parquet`));

    // Act
    const rows = await duck.rows(`
      select distinct compression, encodings from parquet_metadata([${files.map((f) => `'${f}'`).join(', ')}])`);

    // Assess
    const codecs = new Set(rows.map((r) => r.compression));
    const encodings = new Set(rows.flatMap((r) => String(r.encodings).split(', ')));
    expect([...codecs].sort()).toEqual(['BROTLI', 'GZIP', 'SNAPPY', 'UNCOMPRESSED', 'ZSTD']);
    for (const e of ['PLAIN', 'PLAIN_DICTIONARY', 'RLE_DICTIONARY', 'DELTA_BINARY_PACKED', 'DELTA_LENGTH_BYTE_ARRAY', 'BYTE_STREAM_SPLIT']) expect(encodings).toContain(e);
  });

  // Every time type on two files of different codec, encoding and page version; the ts_us column on all.
  const TIME_FILES = new Set(['zstd-dictionary-V1', 'gzip-plain-V2']);
  for (const f of FILES) {
    const timeColumns = TIME_FILES.has(f.name) ? Object.keys(TIME_COLUMNS) : ['ts_us'];
    it(`reads every record of ${f.name} as DuckDB does, time from ${timeColumns.join(', ')}`, async () => {
      // Prepare
      const file = join(duck.dir, `${f.name}.parquet`);

      for (const timeColumn of timeColumns) {
        const dimensions = timeColumn === 'd' ? ['region', 'code'] : ['region', 'code', 'd'];
        const expected = await expectedRecords(file, timeColumn, dimensions);

        // Act
        const got = await readWithBatchflow(file, { timeColumn, timeFormat: 'iso', dimensions, metrics: METRICS });

        // Assess
        expect(got.rejects, timeColumn).toEqual([]);
        expect(got.stats).toMatchObject({ records: 7000, rejected: 0, lines: 7000 });
        expect(got.records, timeColumn).toEqual(expected);
      }
    });
  }

  it('reads only the row groups asked for, and of them only the chunks of the columns the layout uses', async () => {
    // Prepare
    const file = join(duck.dir, 'zstd-dictionary-V1.parquet');
    const starts = await groupStarts(duck, file);
    const used = new Set(['ts_ns', 'region', 'code', 'd', ...METRICS]);
    const chunks = (await chunksOf(duck, file)).filter((c) => c.group >= 1 && c.group < 3 && used.has(c.column));
    const expected = await expectedRecords(file, 'ts_ns', ['region', 'code', 'd'], starts[1], starts[3]);

    // Act
    const got = await readWithBatchflow(file, { timeColumn: 'ts_ns', timeFormat: 'iso', dimensions: ['region', 'code', 'd'], metrics: METRICS }, { start: 1, end: 3 });

    // Assess
    expect(starts.length).toBeGreaterThanOrEqual(5);
    expect(got.records).toEqual(expected);
    // Every byte read lies in a used chunk of groups 1 and 2, and every such chunk was read once.
    const covered = (s: number, e: number) => chunks.some((c) => c.start <= s && e <= c.end) || chunks.filter((c) => c.start < e && c.end > s).reduce((n, c) => n + Math.min(e, c.end) - Math.max(s, c.start), 0) === e - s;
    for (const [s, e] of got.reads) expect(covered(s, e), `read ${s}-${e}`).toBe(true);
    expect(got.stats.bytes).toBe(chunks.reduce((n, c) => n + c.end - c.start, 0));
    expect(got.reads.reduce((n, [s, e]) => n + e - s, 0)).toBe(got.stats.bytes);
  });

  it('reads INT96 timestamps (written by pyarrow: DuckDB cannot write INT96) as DuckDB reads them', async () => {
    // Prepare
    const file = fileURLToPath(new URL('../../fixtures/parquet/int96.parquet', import.meta.url));
    const schema = await duck.rows(`select type from parquet_schema('${file}') where name = 'ts'`);
    const expected = await duck.rows(`
      select (${floorDiv('epoch_us(ts)', 1000)})::double as t, region, amount, file_row_number as n
      from read_parquet('${file}', file_row_number = true) order by n`);

    // Act
    const got = await readWithBatchflow(file, { timeColumn: 'ts', timeFormat: 'iso', dimensions: ['region'], metrics: ['amount'] });

    // Assess
    expect(schema).toEqual([{ type: 'INT96' }]);
    const good = expected.filter((r) => r.t !== null);
    expect(got.records).toEqual(good.map((r) => ({ t: r.t, dims: [r.region], metrics: [r.amount ?? NaN] })));
    expect(got.rejects.map((r) => r.line)).toEqual(expected.filter((r) => r.t === null).map((r) => Number(r.n) + 1));
    expect(got.rejects.every((r) => r.reason.includes('missing time: column "ts" is null'))).toBe(true);
  });
});

describe('Parquet values the dataset cannot use', () => {
  let file: string;
  let starts: number[];
  beforeAll(async () => {
    file = join(duck.dir, 'bad.parquet');
    await duck.run(`
      copy (select
        i,
        case when i % 10 = 1 then null when i % 10 = 7 then make_timestamp(300000000000000000) else make_timestamp(1700000000000000 + i * 1000000) end as ts,
        case when i % 10 = 6 then 'bad time' else strftime(make_timestamp(1700000000000000 + i * 1000000), '%Y-%m-%dT%H:%M:%S.%gZ') end as ts_text,
        case when i % 10 = 2 then 'n/a' when i % 10 = 3 then null else printf('%.1f', i / 2) end as amount,
        case when i % 10 = 4 then 'nan'::double when i % 10 = 5 then 'inf'::double else i * 1.0 end as x,
        case when i % 10 = 8 then 'r' || chr(0) else 'r' || (i % 3) end as region,
        (i % 1000)::bigint as epoch
      from range(5000) r(i)) to '${file}' (format parquet, compression zstd, row_group_size 2048)`);
    starts = await groupStarts(duck, file);
  }, 60_000);

  /** Where a file row is as a reason names it: "row group g, row r" (both 0-based). */
  const at = (n: number) => {
    const g = starts.findIndex((s, i) => n >= s && n < starts[i + 1]);
    return `row group ${g}, row ${n - starts[g]}`;
  };

  it('rejects each bad row naming its row group, row and column, in the order the reader checks them; the rest match DuckDB', async () => {
    // Prepare
    const bad = await duck.rows(`
      select file_row_number as n, case
        when ts is null then 'missing time: column "ts" is null'
        when year(ts) > 9999 then 'column "ts": "' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%g') || 'Z" is outside years 0001–9999'
        when amount is not null and try_cast(amount as double) is null then 'column "amount": "' || amount || '" is not a number'
        when isnan(x) then 'column "x": "NaN" is not a number'
        when isinf(x) then 'column "x": "Infinity" is beyond the magnitude bound'
        when contains(region, chr(0)) then 'column "region": '
      end as why
      from read_parquet('${file}', file_row_number = true) where why is not null order by n`);
    const good = await duck.rows(`
      select epoch_ms(ts)::double as t, region, try_cast(amount as double) as amount, x
      from read_parquet('${file}') where ts is not null and year(ts) <= 9999 and (amount is null or try_cast(amount as double) is not null)
        and not isnan(x) and not isinf(x) and not contains(region, chr(0))`);

    // Act
    const got = await readWithBatchflow(file, { timeColumn: 'ts', timeFormat: 'iso', dimensions: ['region'], metrics: ['amount', 'x'] });

    // Assess
    // i % 10 in {1, 2, 4, 5, 7, 8}: six rows in ten.
    expect(bad.length).toBe(3000);
    expect(got.stats).toMatchObject({ records: 5000, rejected: bad.length, lines: 5000 });
    expect(got.rejects.map((r) => r.line)).toEqual(bad.map((b) => Number(b.n) + 1));
    got.rejects.forEach((r, i) => expect(r.reason).toContain(`${at(Number(bad[i].n))}: ${bad[i].why}`));
    expect(got.records).toEqual(good.map((g) => ({ t: g.t, dims: [g.region], metrics: [g.amount ?? NaN, g.x] })));
  });

  it('quotes the rejected row as JSON of the columns read, and places it at its row group’s first byte read', async () => {
    // Prepare
    const chunks = await chunksOf(duck, file);
    const firstUsed = (g: number) => Math.min(...chunks.filter((c) => c.group === g && ['ts', 'amount', 'x', 'region'].includes(c.column)).map((c) => c.start));

    // Act
    const got = await readWithBatchflow(file, { timeColumn: 'ts', timeFormat: 'iso', dimensions: ['region'], metrics: ['amount', 'x'] });

    // Assess
    // The first row of group 1 whose amount is "n/a" (i % 10 = 2).
    const i = starts[1] + ((12 - (starts[1] % 10)) % 10);
    const na = got.rejects.find((r) => r.line === i + 1);
    expect(na?.reason).toContain(`row group 1, row ${i - starts[1]}: column "amount": "n/a" is not a number`);
    expect(JSON.parse(na!.raw)).toEqual({ ts: new Date(1700000000000 + i * 1000).toISOString(), amount: 'n/a', x: String(i), region: `r${i % 3}` });
    for (const r of got.rejects) expect(r.offset).toBe(firstUsed(starts.findIndex((s, i) => r.line - 1 >= s && r.line - 1 < starts[i + 1])));
  });

  it('reads a time written as text through the dataset’s timeFormat, rejecting text that is not one', async () => {
    // Prepare
    const expected = await duck.rows(`
      select file_row_number as n, epoch_ms(try_cast(ts_text as timestamptz))::double as t from read_parquet('${file}', file_row_number = true) order by n`);

    // Act
    const got = await readWithBatchflow(file, { timeColumn: 'ts_text', timeFormat: 'iso', dimensions: [], metrics: ['epoch'] });

    // Assess
    expect(got.records.map((r) => r.t)).toEqual(expected.filter((e) => e.t !== null).map((e) => e.t));
    expect(got.rejects.map((r) => r.line)).toEqual(expected.filter((e) => e.t === null).map((e) => Number(e.n) + 1));
    expect(got.rejects[0].reason).toContain(`${at(6)}: column "ts_text": "bad time" is not a valid iso timestamp`);
  });

  it('reads an integer column as epoch seconds when the dataset says so', async () => {
    // Prepare
    const expected = await duck.rows(`select (epoch * 1000)::double as t from read_parquet('${file}')`);

    // Act
    const got = await readWithBatchflow(file, { timeColumn: 'epoch', timeFormat: 'epoch_s', dimensions: [], metrics: ['x'] }, undefined);

    // Assess
    const xGood = await duck.rows(`select not isnan(x) and not isinf(x) as ok from read_parquet('${file}')`);
    expect(got.records.map((r) => r.t)).toEqual(expected.filter((_, i) => xGood[i].ok).map((e) => e.t));
  });

  it('rejects every row of a row group that cannot be decoded, naming the error, and reads the other groups', async () => {
    // Prepare
    const { readFileSync, writeFileSync } = await import('node:fs');
    const bytes = readFileSync(file);
    const chunk = (await chunksOf(duck, file)).find((c) => c.group === 1 && c.column === 'x')!;
    // Garble the middle of group 1's "x" chunk: its zstd frames no longer decode.
    bytes.fill(0xa5, chunk.start + 40, chunk.end - 8);
    const broken = join(duck.dir, 'broken.parquet');
    writeFileSync(broken, bytes);
    const others = await duck.rows(`
      select epoch_ms(ts)::double as t from read_parquet('${file}', file_row_number = true)
      where (file_row_number < ${starts[1]} or file_row_number >= ${starts[2]}) and ts is not null and year(ts) <= 9999
        and (amount is null or try_cast(amount as double) is not null) and not isnan(x) and not isinf(x) and not contains(region, chr(0))
      order by file_row_number`);

    // Act
    const got = await readWithBatchflow(broken, { timeColumn: 'ts', timeFormat: 'iso', dimensions: ['region'], metrics: ['amount', 'x'] });

    // Assess
    const groupRejects = got.rejects.filter((r) => r.reason.startsWith('row group 1 cannot be decoded: '));
    expect(groupRejects.map((r) => r.line)).toEqual(Array.from({ length: starts[2] - starts[1] }, (_, i) => starts[1] + i + 1));
    expect(got.records.map((r) => r.t)).toEqual(others.map((o) => o.t));
    expect(got.stats.records).toBe(5000);
  });
});
