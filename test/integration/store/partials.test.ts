import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { prng } from '../../../localstack/demo/sampleData.ts';
import { GROUP_STATS, type RollupGroup } from '../../../lib/rollup/aggregator.ts';
import { BUCKET_ORIGIN_MS } from '../../../lib/rollup/granularity.ts';
import { DDSketch, sketchBucket } from '../../../lib/rollup/sketch.ts';
import { compactShard, pendingCompactionShards, readRollup } from '../../../lib/store/rollups.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { partialShard, partialWriter } from '../../../lib/store/partials.ts';

// COPY's text format is written by hand (partials.ts, the processors' hot path); Postgres reading
// it back is the reference, and so is the same rows sent as parameters (the INSERT writer).
const schema = `it_partials_${randomBytes(3).toString('hex')}`;
let db: Db;
let inserting: Db;

beforeAll(async () => {
  db = connectDb({ url: inject('databaseUrl'), schema, max: 2 });
  inserting = connectDb({ url: inject('databaseUrl'), schema, max: 2, copy: false });
  await migrate(db);
});

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await Promise.all([db.close(), inserting.close()]);
});

/** Text that COPY, array literals and JSON each treat specially, and ordinary text around it. */
const AWKWARD = ['', ' ', 'NULL', 'null', '\\N', '"', '""', '\\', '\\\\', '\t', '\n', '\r\n', '{', '}', '{a,b}', ',', "'", 'a"b\\c', 'ü', '日本', '😀', '\u00a0', 'x y', '\\t'];

function text(random: () => number): string {
  if (random() < 0.5) return AWKWARD[Math.floor(random() * AWKWARD.length)];
  let s = '';
  const n = Math.floor(random() * 6);
  for (let i = 0; i < n; i++) s += random() < 0.3 ? AWKWARD[Math.floor(random() * AWKWARD.length)] : String.fromCharCode(32 + Math.floor(random() * 95));
  return s;
}

const DOUBLES = [0, -0, 1, -1, 0.1, 1 / 3, -2.5e-300, 5e-324, 1.7976931348623157e308, 123456789.123456789, 2 ** 53 + 2, -1e21];

function group(random: () => number, metrics: number, hour: number): RollupGroup {
  const dims = Array.from({ length: Math.floor(random() * 4) }, () => text(random));
  const pick = () => DOUBLES[Math.floor(random() * DOUBLES.length)] * (random() < 0.5 ? 1 : random());
  const rollup = dims.map((_, i) => `d${i}`).join(',');
  const bucketStart = Date.UTC(2020, 0, 1) + hour * 3_600_000;
  if (random() < 0.3) {
    // Single-value form: the values (NaN: none), then their sketch buckets.
    const values = Array.from({ length: metrics }, () => (random() < 0.2 ? NaN : pick()));
    return { rollup, bucketStart, dims, stats: Float64Array.from([...values, ...values.map((v) => (Number.isNaN(v) ? 0 : sketchBucket(v)))]), sketches: null };
  }
  const stats = new Float64Array(GROUP_STATS * metrics);
  const sketches: object[] = [];
  for (let m = 0; m < metrics; m++) {
    const count = Math.floor(random() * 5);
    // count, sum, min, max, mean, m2; min and max NaN (missing) without values.
    stats.set([count, pick(), count === 0 ? NaN : pick(), count === 0 ? NaN : pick(), pick(), Math.abs(pick())], GROUP_STATS * m);
    sketches.push(count === 0 ? {} : { [`p${Math.floor(random() * 2000) - 1000}`]: count, z: 1 });
  }
  return { rollup, bucketStart, dims, stats, sketches: Buffer.from(JSON.stringify(sketches)) };
}

/** The rows of a job; float8[] through JSON (postgres.js reads a NULL element of float8[] as NaN), −0 as 0. */
async function readBack(db: Db, jobId: number) {
  const rows = await db.sql`
    select dataset, rollup, bucket_start, dims, shard, partition_idx, metrics, to_jsonb(stats) as stats, sketches
    from ${db.table('rollup_partials')} where job_id = ${jobId} order by bucket_start`;
  return rows.map((r) => ({ ...r, stats: (r.stats as (number | null)[]).map((x) => (x === null ? null : x + 0)) }));
}

describe('partial rows written with COPY', () => {
  it('read back exactly as the same rows sent as parameters, whatever the text and numbers', async () => {
    // Prepare
    const random = prng(2024);
    const groups = Array.from({ length: 2000 }, (_, i) => group(random, 3, i));
    const metrics = ['a"m', 'b\\m', 'c\tm'];
    const write = (target: Db, jobId: number) =>
      target.sql.begin(async (tx) => {
        // Several partitions (one statement each) of 100 groups.
        for (let idx = 0; idx * 100 < groups.length; idx++) {
          await partialWriter(tx, target, { dataset: 'd\t"s\\', jobId, idx, metrics }).write(groups.slice(idx * 100, (idx + 1) * 100));
        }
      });

    // Act
    await write(db, 1);
    await write(inserting, 2);
    const copied = await readBack(db, 1);
    const inserted = await readBack(db, 2);

    // Assess
    expect(copied.length).toBe(groups.length);
    expect(copied).toEqual(inserted);
    // And both are what was written.
    copied.forEach((row, i) => {
      const g = groups[i];
      expect(row).toEqual({
        dataset: 'd\t"s\\',
        rollup: g.rollup,
        bucket_start: new Date(g.bucketStart),
        dims: g.dims,
        shard: partialShard(g.rollup, g.dims),
        partition_idx: Math.floor(i / 100),
        metrics,
        // NaN is stored as NULL, and −0 is read back as 0 (the same value to every aggregate).
        stats: Array.from(g.stats, (x) => (Number.isNaN(x) ? null : x + 0)),
        sketches: g.sketches === null ? null : JSON.parse(Buffer.from(g.sketches).toString()),
      });
    });
    expect(groups.some((g) => g.sketches === null)).toBe(true);
  });

  it('read as the full form of their values when stored in the single-value form, as a query and the compactor read them', async () => {
    // Prepare: each value twice, in the single-value form (dataset single) and in the full form a
    // group of one value has (dataset full: count 1, the value as sum, min, max and mean, M2 0, and
    // the sketch a DDSketch of that value alone serialises).
    const values = [0, -0, 1, -1, 0.1, -2.5e-300, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 123456789.123456789, 1e-3, NaN];
    const metrics = ['a', 'b'];
    const single: RollupGroup[] = [];
    const full: RollupGroup[] = [];
    values.forEach((v, i) => {
      const w = values[(i + 5) % values.length];
      const at = { rollup: 'd0', bucketStart: Date.UTC(2020, 0, 1) + i * 3_600_000, dims: [`v${i}`] };
      single.push({ ...at, stats: Float64Array.from([v, w, ...[v, w].map((x) => (Number.isNaN(x) ? 0 : sketchBucket(x)))]), sketches: null });
      const stats = [v, w].flatMap((x) => (Number.isNaN(x) ? [0, 0, NaN, NaN, 0, 0] : [1, 0 + x, x, x, 0 + x, 0]));
      const sketches = [v, w].map((x) => {
        const sketch = new DDSketch();
        if (!Number.isNaN(x)) sketch.add(x);
        return sketch.toJSON();
      });
      full.push({ ...at, stats: Float64Array.from(stats), sketches: Buffer.from(JSON.stringify(sketches)) });
    });
    await db.sql.begin(async (tx) => {
      await partialWriter(tx, db, { dataset: 'single', jobId: 4, idx: 0, metrics }).write(single);
      await partialWriter(tx, db, { dataset: 'full', jobId: 5, idx: 0, metrics }).write(full);
    });
    const read = (dataset: string) => readRollup(db, { dataset, rollup: 'd0', metrics, strideMs: 3_600_000, originIso: new Date(BUCKET_ORIGIN_MS).toISOString() });

    const origin = new Date(BUCKET_ORIGIN_MS).toISOString();
    const compact = async (dataset: string) => {
      for (const shard of await pendingCompactionShards(db, origin, dataset)) await compactShard(db, shard);
    };

    // Act
    const fromSingle = await read('single');
    const fromFull = await read('full');
    await compact('single');
    await compact('full');
    const compactedSingle = await read('single');
    const compactedFull = await read('full');

    // Assess
    expect(fromSingle).toHaveLength(2 * values.length);
    expect(fromSingle).toEqual(fromFull);
    expect(compactedSingle).toEqual(fromFull);
    expect(compactedFull).toEqual(fromFull);
    const [left] = await db.sql`select count(*)::int as n from ${db.table('rollup_partials')} where dataset in ('single', 'full')`;
    expect(left.n).toBe(0);
    // A −0 keeps its sign as min and max, sums to 0 (as the aggregator's 0 + x) and is a zero to the sketch.
    expect(fromSingle.find((c) => c.dims[0] === 'v1' && c.metric === 'a')).toMatchObject({ count: 1, sum: 0, mean: 0, min: -0, max: -0, sketch: { z: 1 } });
  });

  it('stream in chunks: a partition of many groups is one COPY of every row', async () => {
    // Prepare
    const random = prng(7);
    const groups = Array.from({ length: 30_000 }, (_, i) => group(random, 4, i));

    // Act
    const written = await db.sql.begin((tx) => partialWriter(tx, db, { dataset: 'many', jobId: 3, idx: 0, metrics: ['a', 'b', 'c', 'd'] }).write(groups));
    const [row] = await db.sql`select count(*)::int as n, sum(array_length(dims, 1))::int as dims from ${db.table('rollup_partials')} where job_id = 3`;

    // Assess
    expect(written).toBe(groups.length);
    expect(row.n).toBe(groups.length);
    expect(row.dims).toBe(groups.reduce((n, g) => n + g.dims.length, 0));
  });
});
