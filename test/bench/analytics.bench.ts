/**
 * `node --import tsx test/bench/analytics.bench.ts`: how long an analytics job takes over a
 * dataset of millions of records. Generates BENCH_RECORDS (default 2,000,000) records over four
 * weeks, rolls them up with the pipeline's aggregator and merges the cells straight into Postgres
 * (the processor's merge, without S3 and SQS), then times runAnalyticsJob for 1-week windows —
 * per product (the [product] rollup), and per region with a product filter (the [region, product]
 * rollup) — and checks each total count against the raw records the window covers.
 * Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and a schema of its own,
 * dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { AGGREGATIONS, parseAnalyticsJobDefinition } from '../../lib/analytics/jobDefinition.ts';
import { runAnalyticsJob } from '../../lib/analytics/runAnalyticsJob.ts';
import { parseDatasetDefinition } from '../../lib/datasets/definition.ts';
import { createRollupAggregator } from '../../lib/rollup/aggregator.ts';
import { putAnalyticsJob } from '../../lib/store/analytics.ts';
import { putDataset } from '../../lib/store/datasets.ts';
import { connectDb } from '../../lib/store/db.ts';
import { migrate } from '../../lib/store/migrate.ts';
import { compactPartials } from '../../lib/compact/compactor.ts';
import { partialWriter } from '../../lib/store/partials.ts';
import { prng } from '../../localstack/demo/sampleData.ts';
import { salesCsv } from '../support/sales.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DAY = 86_400_000;
/** Monday 2024-03-04: four whole weeks of data. */
const FIRST_DAY = Date.UTC(2024, 2, 4);
const DAYS = 28;
const REGIONS = Array.from({ length: 8 }, (_, i) => `region-${i}`);
const PRODUCTS = Array.from({ length: 20 }, (_, i) => `product-${String(i).padStart(2, '0')}`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bench_analytics_${randomBytes(3).toString('hex')}`;
const db = connectDb({ url, schema, max: 4 });

const dataset = parseDatasetDefinition(salesCsv());

try {
  await migrate(db);
  await putDataset(db, dataset);

  // Load: one day of records at a time, aggregated and appended in one transaction, as a partition
  // is, then compacted (the bench times queries over compacted rollups).
  const random = prng(2024);
  const perDay = Math.ceil(RECORDS / DAYS);
  const recordsPerDay: number[] = [];
  let cells = 0;
  const loadStarted = performance.now();
  for (let day = 0; day < DAYS; day++) {
    const aggregator = createRollupAggregator(dataset);
    const n = Math.min(perDay, RECORDS - day * perDay);
    const metrics = new Float64Array(2);
    const dims = ['', ''];
    for (let i = 0; i < n; i++) {
      dims[0] = REGIONS[Math.floor(random() * REGIONS.length)];
      dims[1] = PRODUCTS[Math.floor(random() * PRODUCTS.length)];
      metrics[0] = Math.floor(random() * 100_000) / 100;
      metrics[1] = 1 + Math.floor(random() * 20);
      aggregator.add(FIRST_DAY + day * DAY + Math.floor(random() * DAY), dims, metrics);
    }
    cells += aggregator.size;
    await db.sql.begin((tx) => partialWriter(tx, db, { dataset: dataset.name, jobId: 0, idx: day, metrics: dataset.metrics }).write(aggregator.groups()));
    recordsPerDay.push(n);
  }
  await compactPartials(db, { dataset: dataset.name });
  const [{ rows }] = await db.sql`select count(*)::int as rows from ${db.table('rollups')}`;
  console.log(
    `loaded ${fmt(RECORDS)} records (${DAYS} days, ${REGIONS.length} regions × ${PRODUCTS.length} products) as ${fmt(cells)} rollup cells` +
      ` (${fmt(rows)} rows in rollups) in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`,
  );

  // Fired Monday 2024-03-25 00:00Z: the week 2024-03-18 to 2024-03-25.
  const fireTime = new Date('2024-03-25T00:00:00Z');
  const windowRecords = recordsPerDay.slice(14, 21).reduce((s, n) => s + n, 0);
  const jobs = [
    { name: 'weekly-by-product', entity: 'product', filter: null, covered: windowRecords, rollup: '[product]' },
    {
      name: 'weekly-by-region-filtered',
      entity: 'region',
      filter: `product in (${PRODUCTS.slice(0, 10).map((p) => `"${p}"`).join(', ')})`,
      covered: windowRecords,
      rollup: '[region,product]',
    },
  ];
  for (const spec of jobs) {
    const job = parseAnalyticsJobDefinition({
      name: spec.name,
      enabled: false,
      schedule: 'EVERYWEEK',
      dataset: 'sales',
      entity: spec.entity,
      granularity: '1-week',
      delayHours: 0,
      filter: spec.filter,
      metrics: [
        { metric: 'amount', aggregations: [...AGGREGATIONS] },
        { metric: 'quantity', aggregations: [...AGGREGATIONS] },
      ],
    });
    await putAnalyticsJob(db, job);
    const [{ cells: read }] = await db.sql`
      select count(*)::int as cells from ${db.table('rollups')}
      where dataset = 'sales' and rollup = ${spec.rollup === '[product]' ? 'product' : 'region,product'}
        and bucket_start >= '2024-03-18T00:00:00Z' and bucket_start < '2024-03-25T00:00:00Z'`;
    for (let run = 1; run <= RUNS; run++) {
      const started = performance.now();
      const outcome = await runAnalyticsJob(db, job.name, fireTime, 'manual');
      const wallMs = performance.now() - started;
      const counted = outcome.rows.filter((r) => r.metric === 'quantity' && r.aggregation === 'count').reduce((s, r) => s + r.value!, 0);
      const w = outcome.windows[0];
      console.log(
        `${job.name} run ${run}: window ${w.start.toISOString()}..${w.end.toISOString()}, ${fmt(spec.covered)} raw records in the window` +
          `${spec.filter ? ` (${fmt(counted)} pass the filter)` : ''}, ${fmt(read)} rollup cells of ${spec.rollup} merged, ${outcome.rows.length} result rows:` +
          ` runAnalyticsJob ${outcome.durationMs.toFixed(0)} ms (wall ${wallMs.toFixed(0)} ms)`,
      );
      if (!spec.filter && counted !== spec.covered) throw new Error(`count ${counted} ≠ ${spec.covered} raw records in the window`);
    }
  }
} finally {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
}
