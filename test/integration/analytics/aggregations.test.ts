import { beforeAll, describe, expect, it } from 'vitest';
import { runAnalyticsJob, type RunOutcome } from '../../../lib/analytics/runAnalyticsJob.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import type { ResultRow } from '../../../lib/analytics/results.ts';
import { listResults } from '../../../lib/store/analytics.ts';
import { registerDataset, salesCsv, usePipeline } from '../pipeline/pipeline.ts';
import type { FlatRecord } from '../pipeline/records.ts';
import { DAY } from '../../support/time.ts';
import { expectResultShape, putJob, resultDifferences, salesJob, uploadSales } from './support.ts';

const p = usePipeline('analytics-agg');
let def: DatasetDefinition;
let records: FlatRecord[];

/** Three weeks of sales, 2024-03-01 (a Friday) to 2024-03-22. */
const FROM = Date.UTC(2024, 2, 1);
const TO = FROM + 21 * DAY;

beforeAll(async () => {
  def = await registerDataset(p, salesCsv('sales'));
  records = await uploadSales(p, def, 'uploads/sales/march.csv', { records: 10_000, seed: 31, ranges: [[FROM, TO]] });
});

/** Runs a job at each fire time in turn; the outcomes. */
async function runAt(name: string, fireTimes: readonly string[]): Promise<RunOutcome[]> {
  const outcomes: RunOutcome[] = [];
  for (const t of fireTimes) outcomes.push(await runAnalyticsJob(p.db, name, new Date(t), 'manual'));
  return outcomes;
}

const byKey = (r: ResultRow) => JSON.stringify([r.windowStart.toISOString(), r.entity, r.metric, r.aggregation]);
const sortRows = (rows: readonly ResultRow[]) => [...rows].sort((a, b) => (byKey(a) < byKey(b) ? -1 : byKey(a) > byKey(b) ? 1 : 0));

/** Two fire times per granularity: the second run catches up to it, so each job computes many windows. */
const CASES = [
  { granularity: '1-hour', fireTimes: ['2024-03-06T00:00:00Z', '2024-03-07T00:00:00Z'], windows: 25 },
  { granularity: '6-hour', fireTimes: ['2024-03-04T00:00:00Z', '2024-03-11T00:00:00Z'], windows: 29 },
  { granularity: '1-day', fireTimes: ['2024-03-02T00:00:00Z', '2024-03-22T00:00:00Z'], windows: 21 },
  { granularity: '1-week', fireTimes: ['2024-03-04T00:00:00Z', '2024-03-25T00:00:00Z'], windows: 4 },
] as const;

describe('analytics job results', () => {
  for (const c of CASES) {
    for (const entity of ['region', null] as const) {
      it(`equal plain arithmetic over the records of each ${c.granularity} window for every aggregation ${entity ? `per ${entity}` : 'in total'}`, async () => {
        // Prepare
        const job = await putJob(p, salesJob({ name: `agg-${c.granularity}-${entity ?? 'total'}`, dataset: 'sales', granularity: c.granularity, entity }));

        // Act
        const outcomes = await runAt(job.name, c.fireTimes);
        const stored = await listResults(p.db, job.name);

        // Assess
        const windows = outcomes.flatMap((o) => o.windows);
        expect(outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
        expect(windows).toHaveLength(c.windows);
        expect(resultDifferences(stored, records, job, windows)).toEqual([]);
        expect(sortRows(stored)).toEqual(sortRows(outcomes.flatMap((o) => o.rows)));
        expectResultShape(stored, job.name);
        // Each window of data has every entity (5 regions including the empty one) and both metrics.
        const withData = windows.filter((w) => records.some((r) => r.timeMs >= w.start.getTime() && r.timeMs < w.end.getTime()));
        expect(new Set(stored.map((r) => r.windowStart.toISOString())).size).toBe(withData.length);
        expect(stored.length).toBeGreaterThanOrEqual(withData.length * 2 * 8);
      });
    }
  }

  for (const c of [
    { granularity: '1-day', entity: 'product', fireTimes: ['2024-03-02T00:00:00Z', '2024-03-22T00:00:00Z'] },
    { granularity: '6-hour', entity: null, fireTimes: ['2024-03-04T00:00:00Z', '2024-03-11T00:00:00Z'] },
  ] as const) {
    it(`with a filter equal plain arithmetic over the filtered records (${c.granularity}, ${c.entity ? `per ${c.entity}` : 'totals'})`, async () => {
      // Prepare
      const job = await putJob(
        p,
        salesJob({
          name: `filtered-${c.granularity}-${c.entity ?? 'total'}`,
          dataset: 'sales',
          granularity: c.granularity,
          entity: c.entity,
          filter: 'region in ("north","south") and not product = "p1"',
        }),
      );
      const filtered = records.filter((r) => (r.dims.region === 'north' || r.dims.region === 'south') && r.dims.product !== 'p1');

      // Act
      const outcomes = await runAt(job.name, c.fireTimes);
      const stored = await listResults(p.db, job.name);

      // Assess
      const windows = outcomes.flatMap((o) => o.windows);
      expect(filtered.length).toBeGreaterThan(records.length / 4);
      expect(resultDifferences(stored, filtered, job, windows)).toEqual([]);
      if (c.entity) expect(new Set(stored.map((r) => r.entity))).toEqual(new Set(['p2', 'p3', 'p4']));
      expectResultShape(stored, job.name);
    });
  }
});
