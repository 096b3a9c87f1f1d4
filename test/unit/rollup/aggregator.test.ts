import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDatasetDefinition, type DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { createRollupAggregator, GROUP_STATS, type RollupCell } from '../../../lib/rollup/aggregator.ts';
import { bucketStart, parseGranularity } from '../../../lib/rollup/granularity.ts';
import { DDSketch, SKETCH_RELATIVE_ACCURACY, sketchBucket, sketchQuantile } from '../../../lib/rollup/sketch.ts';
import { ORIGIN_MS } from '../../support/time.ts';

interface TestRecord {
  timeMs: number;
  dims: string[];
  metrics: number[];
}

const definitions: DatasetDefinition[] = [
  { dimensions: ['region', 'sku'], metrics: ['amount', 'quantity'], granularity: '1-hour' },
  {
    dimensions: ['region', 'sku', 'channel'],
    metrics: ['amount'],
    granularity: '15-minutes',
    rollups: [['channel', 'region'], ['sku'], [], ['region', 'sku', 'channel']],
  },
  { dimensions: [], metrics: ['amount', 'quantity', 'discount'], granularity: '1-day' },
  { dimensions: ['region'], metrics: ['amount', 'quantity'], granularity: '2-weeks', rollups: [['region']] },
].map((d) => parseDatasetDefinition({ name: 'orders', format: 'csv', timeColumn: 'ts', ...d }));

const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };

/** The bucket start in exact integer arithmetic, from the granularity's label. */
function naiveBucketStart(tMs: number, granularity: string): number {
  const [count, unit] = granularity.split('-');
  const width = BigInt(Number(count) * UNIT_MS[unit]);
  const offset = BigInt(tMs) - BigInt(ORIGIN_MS);
  const floor = offset >= 0n ? offset / width : -((-offset + width - 1n) / width);
  return Number(BigInt(ORIGIN_MS) + floor * width);
}

/** A naive group-by: one entry per string key (rollup, bucket, dims, metric), every value kept. */
function naiveGroupBy(def: DatasetDefinition, records: readonly TestRecord[]) {
  const groups = new Map<string, { rollup: string; bucketStart: number; dims: string[]; metric: string; values: number[] }>();
  for (const record of records) {
    const bucketStart = naiveBucketStart(record.timeMs, def.granularity);
    for (const rollup of def.rollups) {
      const dims = rollup.map((name) => record.dims[def.dimensions.indexOf(name)]);
      def.metrics.forEach((metric, m) => {
        const key = JSON.stringify([rollup.join(','), bucketStart, dims, metric]);
        let group = groups.get(key);
        if (group === undefined) {
          group = { rollup: rollup.join(','), bucketStart, dims, metric, values: [] };
          groups.set(key, group);
        }
        if (!Number.isNaN(record.metrics[m])) group.values.push(record.metrics[m]);
      });
    }
  }
  return groups;
}

function cellKey(cell: RollupCell): string {
  return JSON.stringify([cell.rollup, cell.bucketStart, cell.dims, cell.metric]);
}

/** Feeds records as a parser does: through one dims array and one Float64Array, reused. */
function aggregate(def: DatasetDefinition, records: readonly TestRecord[]) {
  const aggregator = createRollupAggregator(def);
  const dims = def.dimensions.map(() => '');
  const metrics = new Float64Array(def.metrics.length);
  for (const record of records) {
    record.dims.forEach((value, d) => (dims[d] = value));
    record.metrics.forEach((value, m) => (metrics[m] = value));
    aggregator.add(record.timeMs, dims, metrics);
  }
  dims.fill('overwritten');
  metrics.fill(-1);
  return aggregator;
}

/** -0 as 0: Math.min and Math.max order -0 below 0; the moments keep whichever zero came first, equal as numbers. */
function zeroAsPositive(x: number | null): number | null {
  return x === null ? null : x + 0;
}

function expectClose(actual: number, expected: number, tolerance: number, scale: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * scale + 1e-300);
}

/** Asserts that cells (and the aggregator's size) are the naive group-by's of the records. */
function expectNaiveGroupBy(def: DatasetDefinition, records: readonly TestRecord[], size: number, cells: readonly RollupCell[]): void {
  const expected = naiveGroupBy(def, records);
  expect(size).toBe(expected.size);
  expect(new Set(cells.map(cellKey))).toEqual(new Set(expected.keys()));
  for (const cell of cells) {
    const { rollup, bucketStart, dims, metric, values } = expected.get(cellKey(cell))!;
    const n = values.length;
    const sum = values.reduce((a, b) => a + b, 0);
    const mean = n === 0 ? 0 : sum / n;
    const magnitude = values.reduce((a, x) => a + Math.abs(x), 0);
    expect({ rollup, bucketStart, dims, metric }).toEqual({
      rollup: cell.rollup,
      bucketStart: cell.bucketStart,
      dims: cell.dims,
      metric: cell.metric,
    });
    expect(cell.count).toBe(n);
    expect(zeroAsPositive(cell.min)).toBe(n === 0 ? null : zeroAsPositive(Math.min(...values)));
    expect(zeroAsPositive(cell.max)).toBe(n === 0 ? null : zeroAsPositive(Math.max(...values)));
    expectClose(cell.sum, sum, 1e-12, magnitude);
    expectClose(cell.mean, mean, 1e-12, magnitude / Math.max(n, 1));
    expectClose(cell.m2, values.reduce((a, x) => a + (x - mean) ** 2, 0), 1e-10, values.reduce((a, x) => a + x * x, 0));
    const sketch = new DDSketch();
    for (const v of values) sketch.add(v);
    expect(cell.sketch).toEqual(sketch.toJSON());
  }
}

const dimensionValue = fc.constantFrom('', 'eu', 'us', 'apac', 'a value longer than thirteen characters');
const metricValue = fc.oneof(
  fc.constant(Number.NaN),
  fc.constant(0),
  fc.constant(-0),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.integer({ min: 1, max: 100 }),
);
// Around the origin (before and after it) and around 2024, so buckets fall on both sides.
const time = fc.oneof(
  fc.integer({ min: ORIGIN_MS - 30 * UNIT_MS.day, max: ORIGIN_MS + 30 * UNIT_MS.day }),
  fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2024, 0, 3) }),
);

function recordsFor(def: DatasetDefinition) {
  const record = fc.record({
    timeMs: time,
    dims: fc.array(dimensionValue, { minLength: def.dimensions.length, maxLength: def.dimensions.length }),
    metrics: fc.array(metricValue, { minLength: def.metrics.length, maxLength: def.metrics.length }),
  });
  // Sorted or not: the aggregator shortcuts runs of records in one bucket.
  return fc.tuple(fc.array(record, { maxLength: 300 }), fc.boolean()).map(([records, sorted]) =>
    sorted ? [...records].sort((a, b) => a.timeMs - b.timeMs) : records,
  );
}

describe('createRollupAggregator', () => {
  it.each(definitions.map((def) => [def.granularity, def.rollups.map((r) => `[${r}]`).join(' '), def] as const))(
    'agrees with a naive group-by (%s, rollups %s)',
    (_granularity, _rollups, def) => {
      // Prepare
      const samples = recordsFor(def);

      fc.assert(
        fc.property(samples, (records) => {
          // Act
          const aggregator = aggregate(def, records);
          const cells = aggregator.cells();

          // Assess
          expectNaiveGroupBy(def, records, aggregator.size, cells);
        }),
        { numRuns: 60 },
      );
    },
  );

  it.each(definitions.map((def) => [def.granularity, def.rollups.map((r) => `[${r}]`).join(' '), def] as const))(
    'lists as groups exactly the cells it lists one by one, every metric of a group together (%s, rollups %s)',
    (_granularity, _rollups, def) => {
      // Prepare
      const samples = recordsFor(def);

      fc.assert(
        fc.property(samples, (records) => {
          // Act
          const aggregator = aggregate(def, records);
          const groups = [...aggregator.groups()];

          // Assess: unfolded metric by metric, the groups are the cells (checked above against a naive group-by).
          const M = def.metrics.length;
          const unfolded = groups.flatMap((g) => {
            const at = { rollup: g.rollup, bucketStart: g.bucketStart, dims: [...g.dims] };
            if (g.sketches === null) {
              // Single-value form: value m (NaN: none) and its sketch bucket at M + m.
              return def.metrics.map((metric, m) => {
                const v = g.stats[m];
                if (Number.isNaN(v)) return { ...at, metric, count: 0, sum: 0, min: null, max: null, mean: 0, m2: 0, sketch: {} };
                // The bucket a sketch of the value alone puts it in.
                expect(g.stats[M + m]).toBe(sketchBucket(v));
                const sketch = new DDSketch();
                sketch.add(v);
                return { ...at, metric, count: 1, sum: 0 + v, min: v, max: v, mean: 0 + v, m2: 0, sketch: sketch.toJSON() };
              });
            }
            // ASCII bytes of JSON text: any decoder reads them alike.
            const sketches = JSON.parse(new TextDecoder().decode(g.sketches));
            return def.metrics.map((metric, m) => {
              const [count, sum, min, max, mean, m2] = g.stats.subarray(GROUP_STATS * m, GROUP_STATS * (m + 1));
              return { ...at, metric, count, sum, min: count === 0 ? null : min, max: count === 0 ? null : max, mean, m2, sketch: sketches[m] };
            });
          });
          for (const g of groups) {
            const counts = g.sketches === null ? [] : def.metrics.map((_, m) => g.stats[GROUP_STATS * m]);
            // The single-value form exactly when no metric holds two values.
            expect(g.stats.length).toBe(g.sketches === null ? 2 * M : GROUP_STATS * M);
            if (g.sketches !== null) expect(counts.some((n) => n > 1)).toBe(true);
            // A metric without values has NaN (missing) extremes, stored as NULL.
            counts.forEach((n, m) => {
              if (n === 0) expect([g.stats[GROUP_STATS * m + 2], g.stats[GROUP_STATS * m + 3]]).toEqual([NaN, NaN]);
            });
          }
          expect(unfolded).toEqual(aggregator.cells());
        }),
        { numRuns: 40 },
      );
    },
  );

  it('agrees with a naive group-by past the dense group rows (many combinations: a PairTable takes over)', () => {
    // Prepare
    // 70,000 values of one dimension: 70,000 rows of ≥ 64 entries pass the 2^22 entries of dense
    // rows and 8 per group, so groups move to a PairTable midway; later records find and add
    // groups there.
    const def = parseDatasetDefinition({ name: 'orders', format: 'csv', timeColumn: 'ts', dimensions: ['sku'], metrics: ['amount'], granularity: '1-hour', rollups: [['sku'], []] });
    const hour = 3_600_000;
    const records: TestRecord[] = [];
    for (let i = 0; i < 90_000; i++) {
      const sku = `s${(i * 7919) % 70_000}`;
      records.push({ timeMs: Date.UTC(2024, 0, 1) + ((i * 13) % 5) * hour + (i % 1000), dims: [sku], metrics: [(i % 97) / 4] });
    }

    // Act
    const aggregator = aggregate(def, records);

    // Assess
    expectNaiveGroupBy(def, records, aggregator.size, aggregator.cells());
  });

  it('agrees with a naive group-by when sketches grow to thousands of bins (the pool is compacted and copied)', () => {
    // Prepare
    // A few cells with values over many magnitudes (growths leave garbage: compactions), then
    // many cells of one value (few garbage: whole-pool copies), then the first cells again.
    const def = definitions[0];
    const records: TestRecord[] = [];
    const t0 = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 6000; i++) records.push({ timeMs: t0 + (i % 3) * 3_600_000, dims: [`r${i % 2}`, 'a'], metrics: [1.013 ** (i % 3000), -(1.02 ** (i % 1500))] });
    for (let i = 0; i < 6000; i++) records.push({ timeMs: t0 + i * 3_600_000, dims: ['x', `s${i}`], metrics: [i, Number.NaN] });
    for (let i = 0; i < 2000; i++) records.push({ timeMs: t0 + (i % 3) * 3_600_000, dims: [`r${i % 2}`, 'a'], metrics: [1.011 ** i, i] });

    // Act
    const aggregator = aggregate(def, records);

    // Assess
    expectNaiveGroupBy(def, records, aggregator.size, aggregator.cells());
  });

  it('writes sketches of thousands of bins and counts of many digits into the groups as cells() lists them', () => {
    // Prepare: one cell of ~1,000 bins (the typed sort past 16 bins), one value 12,345 times and
    // others 10, 100, 1,000 and 11,235 times (counts of 1 to 5 digits).
    const def = parseDatasetDefinition({ name: 'orders', format: 'csv', timeColumn: 'ts', dimensions: ['sku'], metrics: ['a', 'b'], granularity: '1-day', rollups: [['sku']] });
    const t0 = Date.UTC(2024, 0, 1);
    const records: TestRecord[] = [];
    for (let i = 0; i < 4000; i++) records.push({ timeMs: t0, dims: ['wide'], metrics: [1.01 ** (i % 2000), -(i % 7)] });
    for (let i = 0; i < 12_345; i++) records.push({ timeMs: t0, dims: ['deep'], metrics: [42, i < 10 ? 1 : i < 110 ? 2 : i < 1110 ? 3 : 4] });

    // Act
    const aggregator = aggregate(def, records);
    const groups = [...aggregator.groups()];
    const sketches = groups.map((g) => JSON.parse(new TextDecoder().decode(g.sketches!)) as Record<string, number>[]);

    // Assess: the groups' sketches are the cells' (checked against a naive group-by elsewhere).
    const cells = aggregator.cells();
    expectNaiveGroupBy(def, records, aggregator.size, cells);
    expect(sketches.flat()).toEqual(cells.map((c) => c.sketch));
    expect(Object.keys(sketches[groups.findIndex((g) => g.dims[0] === 'wide')][0]).length).toBeGreaterThan(900);
    expect(Object.values(sketches[groups.findIndex((g) => g.dims[0] === 'deep')][1]).sort((x, y) => x - y)).toEqual([10, 100, 1000, 11_235]);
  });

  it('keeps adding after cells() (staged updates are applied before it reads them)', () => {
    // Prepare
    const def = definitions[1];
    const records: TestRecord[] = [];
    for (let i = 0; i < 3000; i++) {
      records.push({ timeMs: Date.UTC(2024, 0, 1) + ((i * 7877) % 86_400_000), dims: [`r${i % 3}`, `k${i % 11}`, `c${i % 2}`], metrics: [i % 2 === 0 ? i / 8 : Number.NaN] });
    }
    const aggregator = createRollupAggregator(def);
    const add = (record: TestRecord) => aggregator.add(record.timeMs, record.dims, new Float64Array(record.metrics));

    // Act
    records.slice(0, 1234).forEach(add);
    const early = aggregator.cells();
    records.slice(1234).forEach(add);
    const late = aggregator.cells();

    // Assess
    expectNaiveGroupBy(def, records.slice(0, 1234), early.length, early);
    expectNaiveGroupBy(def, records, aggregator.size, late);
  });

  it('puts every time into the bucket bucketStart gives (integer and fractional times, both sides of the origin)', () => {
    // Prepare
    const granularities = ['1-second', '7-minutes', '1-hour', '1-day', '2-weeks'];
    const anchor = fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.integer({ min: ORIGIN_MS - 1e12, max: ORIGIN_MS + 1e12 }),
      fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2024, 11, 31) }),
    );
    // Times at and just around bucket edges, and fractional ones (epoch seconds with decimals).
    const offset = fc.oneof(fc.constantFrom(-1, 0, 1, 0.5, -0.5, 0.001, -0.001), fc.double({ min: -2, max: 2, noNaN: true }));
    const times = fc.array(fc.tuple(anchor, offset), { minLength: 1, maxLength: 50 });
    const def = (granularity: string) =>
      parseDatasetDefinition({ name: 'orders', format: 'csv', timeColumn: 'ts', dimensions: ['id'], metrics: ['v'], granularity, rollups: [['id']] });

    fc.assert(
      fc.property(fc.constantFrom(...granularities), times, (label, pairs) => {
        const granularity = parseGranularity(label);
        const aggregator = createRollupAggregator(def(label));
        const expected = new Map<string, number>();
        pairs.forEach(([a, o], i) => {
          // Onto a bucket edge, then off it by the offset.
          const t = bucketStart(a, granularity) + o;
          if (!(t >= -8.64e15 && t <= 8.64e15)) return;
          if (Number.isInteger(t)) {
            // Integer times (the parsers' usual) into one aggregator, through its bucket shortcuts.
            aggregator.add(t, [String(i)], new Float64Array([1]));
            expected.set(String(i), bucketStart(t, granularity));
          } else {
            // A fractional time each into its own aggregator: the previous record's bucket,
            // tested by comparison first, may hold a time bucketStart would put elsewhere, since
            // bucketStart rounds (t − origin) for fractional times.
            const alone = createRollupAggregator(def(label));
            alone.add(t, ['x'], new Float64Array([1]));
            expect(alone.cells()[0].bucketStart).toBe(bucketStart(t, granularity));
          }
        });

        // Assess
        const cells = aggregator.cells();
        expect(cells).toHaveLength(expected.size);
        for (const cell of cells) expect(cell.bucketStart).toBe(expected.get(cell.dims[0]));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a median within 1% of the lower-middle value of every cell', () => {
    // Prepare
    const def = definitions[0];
    const positive = fc.noBias(fc.integer({ min: 1, max: 1e6 })).map((i) => i / 100);
    const records = fc.array(
      fc.record({
        timeMs: fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2024, 0, 1, 6) }),
        dims: fc.tuple(fc.constantFrom('eu', 'us'), fc.constantFrom('a', 'b', 'c')),
        metrics: fc.tuple(positive, positive),
      }),
      { minLength: 1, maxLength: 500 },
    );

    fc.assert(
      fc.property(records, (rs) => {
        // Act
        const cells = aggregate(def, rs).cells();

        // Assess
        const expected = naiveGroupBy(def, rs);
        for (const cell of cells) {
          const sorted = [...expected.get(cellKey(cell))!.values].sort((a, b) => a - b);
          const lowerMiddle = sorted[Math.floor((sorted.length - 1) / 2)];
          // Read through the serialised form, as the query layer will.
          const estimate = sketchQuantile(cell.sketch, 0.5)!;
          expect(Math.abs(estimate - lowerMiddle) / lowerMiddle).toBeLessThanOrEqual(SKETCH_RELATIVE_ACCURACY * (1 + 1e-9));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('creates a cell for every metric even when the record lacks them all', () => {
    // Prepare
    const def = definitions[0];
    const records = [{ timeMs: Date.UTC(2024, 4, 1, 10, 30), dims: ['eu', ''], metrics: [Number.NaN, Number.NaN] }];

    // Act
    const cells = aggregate(def, records).cells();

    // Assess
    const hour = Date.UTC(2024, 4, 1, 10);
    const empty = { count: 0, sum: 0, min: null, max: null, mean: 0, m2: 0, sketch: {} };
    expect(cells).toEqual(
      expect.arrayContaining([
        { rollup: 'region', bucketStart: hour, dims: ['eu'], metric: 'amount', ...empty },
        { rollup: 'region', bucketStart: hour, dims: ['eu'], metric: 'quantity', ...empty },
        { rollup: 'sku', bucketStart: hour, dims: [''], metric: 'amount', ...empty },
        { rollup: 'sku', bucketStart: hour, dims: [''], metric: 'quantity', ...empty },
        { rollup: '', bucketStart: hour, dims: [], metric: 'amount', ...empty },
        { rollup: '', bucketStart: hour, dims: [], metric: 'quantity', ...empty },
      ]),
    );
    expect(cells).toHaveLength(6);
  });

  it("lists a rollup's dimension values in the rollup's order, under its rollup key", () => {
    // Prepare
    const def = definitions[1];
    const records = [{ timeMs: Date.UTC(2024, 4, 1, 10, 50), dims: ['eu', 'sku-1', 'web'], metrics: [5] }];

    // Act
    const cells = aggregate(def, records).cells();

    // Assess
    // In no particular order: cells() promises none.
    expect(new Set(cells.map((c) => JSON.stringify([c.rollup, c.dims, new Date(c.bucketStart).toISOString()])))).toEqual(
      new Set([
        JSON.stringify(['region,channel', ['eu', 'web'], '2024-05-01T10:45:00.000Z']),
        JSON.stringify(['sku', ['sku-1'], '2024-05-01T10:45:00.000Z']),
        JSON.stringify(['', [], '2024-05-01T10:45:00.000Z']),
        JSON.stringify(['region,sku,channel', ['eu', 'sku-1', 'web'], '2024-05-01T10:45:00.000Z']),
      ]),
    );
    expect(cells).toHaveLength(4);
  });

  it.each([
    ['a time that is not a number', Number.NaN, 1],
    ['an infinite time', Number.POSITIVE_INFINITY, 1],
    ['an infinite metric', Date.UTC(2024, 0, 1), Number.NEGATIVE_INFINITY],
  ])('refuses %s without creating cells', (_what, timeMs, amount) => {
    // Prepare
    const aggregator = createRollupAggregator(definitions[0]);

    // Act
    const add = () => aggregator.add(timeMs, ['eu', 'a'], new Float64Array([amount, 1]));

    // Assess
    expect(add).toThrow(RangeError);
    expect(aggregator.size).toBe(0);
    expect(aggregator.cells()).toEqual([]);
  });
});
