import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { queryRollups } from '../../../lib/query/queryRollups.ts';
import { putTunedSetting } from '../../../lib/store/performance.ts';
import { listRejects } from '../../../lib/store/rejects.ts';
import { processPartition } from '../../../lib/process/processPartition.ts';
import { chunksOf, openDuck, type Duck } from '../../unit/parse/parquetDuckdb.ts';
import { createHeld, processContext, registerDataset, splitHeld, uploadAndWait, usePipeline } from './pipeline.ts';

/**
 * A Parquet upload through the whole pipeline (splitter, queue, processors, Postgres), checked
 * against DuckDB's GROUP BY over the same file: every rollup's count, sum, min, max, mean and
 * variance per bucket, and every rejected row.
 */

const p = usePipeline('parquet');
let duck: Duck;
let file: string;

const DEFINITION = {
  name: 'orders',
  format: 'parquet',
  timeColumn: 'ts',
  granularity: '1-hour',
  dimensions: ['region', 'product'],
  metrics: ['amount', 'quantity'],
};

beforeAll(async () => {
  duck = await openDuck();
  file = join(duck.dir, 'orders.parquet');
  // 10,000 rows in 5 row groups (DuckDB's are multiples of 2,048 rows); 7 rows without a time, an
  // unused wide column between the used ones, null amounts and regions.
  await duck.run(`
    copy (select
      case when i % 1500 = 77 then null else timestamptz '2024-03-01 00:00:00+00' + i * interval 37 second end as ts,
      case when i % 23 = 5 then null else ['north', 'south', 'east', 'west'][1 + i % 4] end as region,
      repeat('unused ', 20) || i as note,
      'p' || (i * 7 % 13) as product,
      case when i % 11 = 3 then null else round(exp(((i * 7919) % 1000) / 150.0), 2) end as amount,
      (i % 9 + 1)::integer as quantity
    from range(10000) r(i)) to '${file}' (format parquet, compression zstd, row_group_size 2048)`);
});

afterAll(() => duck?.close());

/** DuckDB's statistics per (bucket, dimension values, metric) of a rollup, keyed as the pipeline's rows. */
async function duckRollup(by: readonly string[], granularityMs: number): Promise<Map<string, Record<string, number | null>>> {
  const dims = by.map((d) => `coalesce(${d}, '') as ${d}`).join(', ');
  const rows = await duck.rows(
    ['amount', 'quantity']
      .map(
        (m) => `
      select (floor(epoch_ms(ts) / ${granularityMs}) * ${granularityMs})::double as b, ${dims}${by.length ? ',' : ''} '${m}' as metric,
        count(${m})::int as count, sum(${m})::double as sum, min(${m})::double as min, max(${m})::double as max, avg(${m}) as avg, var_samp(${m}) as variance
      from read_parquet('${file}') where ts is not null group by all`,
      )
      .join(' union all '),
  );
  return new Map(rows.map((r) => [JSON.stringify([new Date(r.b as number).toISOString(), by.map((d) => r[d]), r.metric]), r as Record<string, number | null>]));
}

/** Every difference between the pipeline's rollup rows and DuckDB's (relative 1e-9 for sums and moments). */
async function rollupDifferences(def: DatasetDefinition, by: readonly string[], granularity: { label: string; ms: number }): Promise<string[]> {
  const expected = await duckRollup(by, granularity.ms);
  const actual = await queryRollups(p.db, def, { granularity: granularity.label, by });
  const close = (a: number | null, e: number | null) => (a === null || e === null ? a === e : Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e)));
  const problems: string[] = [];
  for (const row of actual) {
    const key = JSON.stringify([row.bucketStart, by.map((d) => row[d]), row.metric]);
    const e = expected.get(key);
    expected.delete(key);
    if (!e) problems.push(`unexpected ${key}`);
    else if (row.count !== e.count || row.min !== e.min || row.max !== e.max || !close(row.sum, e.sum) || !close(row.avg, e.avg) || !close(row.variance, e.variance)) {
      problems.push(`${key}: ${JSON.stringify(row)} ≠ DuckDB ${JSON.stringify(e)}`);
    }
  }
  for (const key of expected.keys()) problems.push(`missing ${key}`);
  return problems;
}

describe('a Parquet upload', () => {
  it('is split into row-group partitions, and its rollups equal DuckDB’s GROUP BY over the same file', async () => {
    // Prepare
    const def = await registerDataset(p, DEFINITION);
    const groups = await duck.rows(`select distinct row_group_id from parquet_metadata('${file}')`);
    const nullTimes = await duck.rows(`select file_row_number as n from read_parquet('${file}', file_row_number = true) where ts is null order by n`);

    // Act
    const job = await uploadAndWait(p, 'uploads/orders/2024-03.parquet', readFileSync(file));
    const partitions = await p.db.sql`
      select row_group_start as s, row_group_end as e from ${p.db.table('batch_partitions')} where job_id = ${job.jobId} order by idx`;
    const rejects = await listRejects(p.db, job.jobId);

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', format: 'parquet', recordsRead: 10000, recordsRejected: nullTimes.length });
    // PARTITION_BYTES (8 KiB) is less than any row group's used columns: one group each.
    expect(groups.length).toBe(5);
    expect(partitions.map((r) => [r.s, r.e])).toEqual(groups.map((_, g) => [g, g + 1]));
    expect(rejects.map((r) => r.line)).toEqual(nullTimes.map((r) => Number(r.n) + 1));
    expect(rejects.every((r) => /^row group \d, row \d+: missing time: column "ts" is null$/.test(r.reason))).toBe(true);
    for (const by of def.rollups) {
      for (const g of [{ label: '1-hour', ms: 3_600_000 }, { label: '1-day', ms: 86_400_000 }]) {
        expect(await rollupDifferences(def, by, g), `[${by.join(',')}] ${g.label}`).toEqual([]);
      }
    }
  });

  it('packs several whole row groups into a partition up to the partition size', async () => {
    // Prepare: a partition size of two row groups' used columns, decoded (DuckDB's metadata).
    const def = await registerDataset(p, { ...DEFINITION, name: 'packed' });
    const sizes = await duck.rows(`
      select row_group_id as g, sum(total_uncompressed_size)::double as bytes from parquet_metadata('${file}')
      where path_in_schema in ('ts', 'region', 'product', 'amount', 'quantity') group by g order by g`);
    const bytes = sizes.map((s) => s.bytes as number);
    const partitionBytes = Math.max(...bytes.slice(0, 4).map((b, i) => (i % 2 === 0 ? b + bytes[i + 1] : 0)));
    await putTunedSetting(p.db, 'partitionBytes', partitionBytes);

    // Act
    const job = await uploadAndWait(p, 'uploads/packed/2024-03.parquet', readFileSync(file));
    await p.db.sql`delete from ${p.db.table('tuned_settings')}`;
    const partitions = await p.db.sql`
      select row_group_start as s, row_group_end as e from ${p.db.table('batch_partitions')} where job_id = ${job.jobId} order by idx`;

    // Assess: groups 0-1 and 2-3 fit; the last, smaller one is alone.
    expect(partitions.map((r) => [r.s, r.e])).toEqual([
      [0, 2],
      [2, 4],
      [4, 5],
    ]);
    expect(job).toMatchObject({ recordsRead: 10000, partitionsDone: 3 });
    expect(await rollupDifferences(def, ['region'], { label: '1-hour', ms: 3_600_000 })).toEqual([]);
  });

  it('fails the job naming the columns when the schema does not fit the dataset', async () => {
    // Prepare
    await registerDataset(p, { ...DEFINITION, name: 'misfit', dimensions: ['region', 'store'], metrics: ['amount'] });

    // Act
    const job = await uploadAndWait(p, 'uploads/misfit/2024-03.parquet', readFileSync(file));

    // Assess
    expect(job.status).toBe('failed');
    expect(job.reason).toBe('Parquet object does not fit dataset "misfit": Parquet schema lacks column "store" (its columns: ts,region,note,product,amount,quantity)');
    expect(job.partitionsTotal).toBeNull();
  });

  it('sends each partition’s row groups in its message, and a processor reads only their chunks of the used columns', async () => {
    // Prepare
    await registerDataset(p, { ...DEFINITION, name: 'held' });
    const held = await createHeld(p);
    const bytes = readFileSync(file);
    const used = new Set(['ts', 'region', 'product', 'amount', 'quantity']);
    const chunks = (await chunksOf(duck, file)).filter((c) => used.has(c.column));
    const { outcome, messages } = await splitHeld(p, held, 'uploads/held/2024-03.parquet', bytes);
    const ctx = processContext(p);
    const reads: [number, number][] = [];
    const objects = { ...ctx.objects, readRange: (b: string, k: string, s: number, e: number, pin?: Parameters<typeof ctx.objects.readRange>[4]) => (reads.push([s, e]), ctx.objects.readRange(b, k, s, e, pin)) };

    // Act
    const third = await processPartition({ ...ctx, objects }, messages[2]);
    const tampered = processPartition(ctx, { ...messages[3], rowGroups: [0, 5] });

    // Assess
    expect(outcome).toMatchObject({ status: 'split', partitions: 5 });
    expect(messages.map((m) => m.rowGroups)).toEqual([0, 1, 2, 3, 4].map((g) => [g, g + 1]));
    expect(third.status).toBe('merged');
    // The footer's tail, then group 2's used chunks (adjacent ones in one request) and nothing else.
    const [footer, ...data] = reads;
    expect(footer).toEqual([Math.max(0, bytes.length - 65536), bytes.length]);
    const group2 = chunks.filter((c) => c.group === 2);
    expect(data.reduce((n, [s, e]) => n + e - s, 0)).toBe(group2.reduce((n, c) => n + c.end - c.start, 0));
    for (const [s, e] of data) expect(group2.filter((c) => c.start >= s && c.end <= e).reduce((n, c) => n + c.end - c.start, 0), `read ${s}-${e}`).toBe(e - s);
    await expect(tampered).rejects.toThrow('the message\'s row groups [0, 5) are not the recorded [3, 4)');
  });
});
