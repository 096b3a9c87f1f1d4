import { beforeAll, describe, expect, it } from 'vitest';
import { runAnalyticsJob } from '../../../lib/analytics/runAnalyticsJob.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import type { ResultRow } from '../../../lib/analytics/results.ts';
import { listResults } from '../../../lib/store/analytics.ts';
import { waitFor } from '../localstack/support.ts';
import { registerDataset, salesCsv, usePipeline } from '../pipeline/pipeline.ts';
import type { FlatRecord } from '../pipeline/records.ts';
import { DAY, HOUR } from '../../support/time.ts';
import { expectedWindow, putJob, resultDifferences, salesJob, uploadSales } from './support.ts';

const p = usePipeline('analytics-life');
let def: DatasetDefinition;
/** The records of dataset `sales` and of dataset `late` (before any late upload). */
let sales: FlatRecord[];
let late: FlatRecord[];

const FROM = Date.UTC(2024, 2, 1);
const TO = Date.UTC(2024, 2, 10);

beforeAll(async () => {
  def = await registerDataset(p, salesCsv('sales'));
  await registerDataset(p, salesCsv('late'));
  [sales, late] = await Promise.all([
    uploadSales(p, def, 'uploads/sales/march.csv', { records: 5000, seed: 11, ranges: [[FROM, TO]] }),
    uploadSales(p, def, 'uploads/late/march.csv', { records: 5000, seed: 12, ranges: [[FROM, TO]] }),
  ]);
  // The processors compact each job's partial rows after it, in the background. A run reads the
  // same totals either way, but summed in another order: the last bits of a sum or a variance can
  // differ between a run before and one after compaction, so the runs here start after it.
  await waitFor(
    async () => {
      const [{ partial }] = await p.db.sql<{ partial: number }[]>`select count(*)::int as partial from ${p.db.table('rollup_partials')}`;
      return partial === 0;
    },
    60_000,
    'the uploads to be compacted',
  );
});

const windowOf = (start: string, granularityMs: number) => ({ start: new Date(start), end: new Date(Date.parse(start) + granularityMs) });

async function runsOf(job: string) {
  return p.db.sql`
    select status, rows, window_start, window_end, fire_time from ${p.db.table('analytics_runs')}
    where job = ${job} order by run_id`;
}

describe('an analytics job run', () => {
  it('run twice for the same fire time leaves identical results and no duplicate rows', async () => {
    // Prepare
    const job = await putJob(p, salesJob({ name: 'rerun', dataset: 'sales', granularity: '1-day', entity: 'region', delayHours: 2 }));
    const fireTime = new Date('2024-03-06T08:00:00Z');
    const first = await runAnalyticsJob(p.db, job.name, fireTime, 'manual');
    const before = await listResults(p.db, job.name);

    // Act
    const second = await runAnalyticsJob(p.db, job.name, fireTime, 'manual');
    const after = await listResults(p.db, job.name);

    // Assess
    const expected = expectedWindow(fireTime.getTime(), '1-day', 2);
    expect(first.windows).toEqual([expected]);
    expect(second.windows).toEqual([expected]);
    expect(after).toEqual(before);
    const keys = after.map((r) => JSON.stringify([r.windowStart, r.entity, r.metric, r.aggregation]));
    expect(new Set(keys).size).toBe(after.length);
    expect(after.length).toBe(5 * 2 * 8);
    expect(resultDifferences(after, sales, job, [expected])).toEqual([]);
    const [{ n }] = await p.db.sql`select count(*)::int as n from ${p.db.table('analytics_windows')} where job = ${job.name}`;
    expect(n).toBe(1);
    expect((await runsOf(job.name)).map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('after a gap of five windows also computes the four missed ones, oldest first', async () => {
    // Prepare
    const job = await putJob(p, salesJob({ name: 'catchup', dataset: 'sales', granularity: '6-hour', entity: 'product' }));
    const t = Date.parse('2024-03-04T00:00:00Z');
    const first = await runAnalyticsJob(p.db, job.name, new Date(t), 'manual');

    // Act
    const later = await runAnalyticsJob(p.db, job.name, new Date(t + 5 * 6 * HOUR), 'manual');
    const stored = await listResults(p.db, job.name);

    // Assess
    const six = 6 * HOUR;
    expect(first.windows).toEqual([windowOf('2024-03-03T18:00:00Z', six)]);
    const caughtUp = ['2024-03-04T00:00:00Z', '2024-03-04T06:00:00Z', '2024-03-04T12:00:00Z', '2024-03-04T18:00:00Z', '2024-03-05T00:00:00Z'].map((s) => windowOf(s, six));
    expect(later.windows).toEqual(caughtUp);
    expect([...new Set(later.rows.map((r) => r.windowStart.toISOString()))]).toEqual(caughtUp.map((w) => w.start.toISOString()));
    expect(resultDifferences(stored, sales, job, [...first.windows, ...caughtUp])).toEqual([]);
    expect(new Set(stored.map((r) => r.windowStart.toISOString())).size).toBe(6);
    const runs = await runsOf(job.name);
    expect(runs.at(-1)).toMatchObject({
      status: 'succeeded',
      rows: later.rows.length,
      window_start: caughtUp[0].start,
      window_end: caughtUp[4].end,
      fire_time: new Date(t + 5 * six),
    });
  });

  it('after late data recomputes exactly the window it fell in (and the new one), leaving the others row for row', async () => {
    // Prepare: five daily windows computed, 2024-03-03 to 2024-03-08.
    const job = await putJob(p, salesJob({ name: 'late-daily', dataset: 'late', granularity: '1-day', entity: 'region' }));
    await runAnalyticsJob(p.db, job.name, new Date('2024-03-04T00:00:00Z'), 'manual');
    await runAnalyticsJob(p.db, job.name, new Date('2024-03-08T00:00:00Z'), 'manual');
    const before = await listResults(p.db, job.name);
    const lateStart = Date.UTC(2024, 2, 5, 10);
    const lateRecords = await uploadSales(p, def, 'uploads/late/late.csv', { records: 60, seed: 13, ranges: [[lateStart, lateStart + 4 * HOUR]] });
    const stale = await p.db.sql`select window_start from ${p.db.table('analytics_windows')} where job = ${job.name} and stale`;

    // Act
    const outcome = await runAnalyticsJob(p.db, job.name, new Date('2024-03-09T00:00:00Z'), 'manual');
    const after = await listResults(p.db, job.name);

    // Assess
    const all = [...late, ...lateRecords];
    const touched = windowOf('2024-03-05T00:00:00Z', DAY);
    const fired = windowOf('2024-03-08T00:00:00Z', DAY);
    expect(stale.map((r) => r.window_start)).toEqual([touched.start]);
    expect(outcome.windows).toEqual([touched, fired]);
    const inWindow = (w: { start: Date }) => (r: ResultRow) => r.windowStart.getTime() === w.start.getTime();
    const untouched = (r: ResultRow) => !inWindow(touched)(r) && !inWindow(fired)(r);
    expect(before.filter(untouched).length).toBe(4 * 5 * 2 * 8);
    expect(after.filter(untouched)).toEqual(before.filter(untouched));
    expect(resultDifferences(after.filter(inWindow(touched)), all, job, [touched])).toEqual([]);
    expect(resultDifferences(after.filter(inWindow(fired)), all, job, [fired])).toEqual([]);
    // The recomputed window did change: its counts now include the late records.
    const count = (rows: ResultRow[]) => rows.filter((r) => r.aggregation === 'count' && r.metric === 'quantity').reduce((s, r) => s + r.value!, 0);
    const lateQty = lateRecords.filter((r) => r.metrics.quantity !== undefined).length;
    expect(count(after.filter(inWindow(touched)))).toBe(count(before.filter(inWindow(touched))) + lateQty);
  });
});
