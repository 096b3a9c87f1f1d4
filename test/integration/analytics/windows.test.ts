import { beforeAll, describe, expect, it } from 'vitest';
import { runAnalyticsJob } from '../../../lib/analytics/runAnalyticsJob.ts';
import { fireTimesBetween, parseSchedule } from '../../../lib/analytics/schedule.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { listResults } from '../../../lib/store/analytics.ts';
import { registerDataset, salesCsv, usePipeline } from '../pipeline/pipeline.ts';
import type { FlatRecord } from '../pipeline/records.ts';
import { DAY } from '../../support/time.ts';
import { expectedWindow, putJob, resultDifferences, salesJob, uploadSales } from './support.ts';

const p = usePipeline('analytics-windows');
let def: DatasetDefinition;
let records: FlatRecord[];

/** Data around both 2024 DST changes in New York, and the two weeks before the spring one. */
const SPRING: readonly [number, number] = [Date.UTC(2024, 1, 12), Date.UTC(2024, 2, 13)];
const FALL: readonly [number, number] = [Date.UTC(2024, 9, 28), Date.UTC(2024, 10, 6)];

beforeAll(async () => {
  def = await registerDataset(p, salesCsv('sales'));
  records = await uploadSales(p, def, 'uploads/sales/dst.csv', { records: 8000, seed: 7, ranges: [SPRING, FALL] });
});

/**
 * 8:00 in New York around the 2024 changes, in UTC: EST is UTC−5 (8:00 = 13:00Z), EDT is UTC−4
 * (8:00 = 12:00Z); clocks went forward on 2024-03-10 at 2:00 and back on 2024-11-03 at 2:00.
 */
const EIGHT_AM_ET = [
  '2024-03-09T13:00:00Z',
  '2024-03-10T12:00:00Z',
  '2024-03-11T12:00:00Z',
  '2024-11-02T12:00:00Z',
  '2024-11-03T13:00:00Z',
  '2024-11-04T13:00:00Z',
];

/** (granularity, delay) pairs run at each fire time. */
const DAILY_CONFIGS = [
  { granularity: '1-day', delayHours: 0 },
  { granularity: '1-day', delayHours: 12 },
  { granularity: '1-day', delayHours: 13 },
  { granularity: '6-hour', delayHours: 2 },
  { granularity: '1-hour', delayHours: 5 },
  { granularity: '12-hour', delayHours: 1 },
] as const;

let jobCount = 0;

/** A fresh job (no previous run, so nothing to catch up) run once at `fireTime`. */
async function runOnce(fireTime: string, granularity: string, delayHours: number, schedule: string) {
  const job = await putJob(p, salesJob({ name: `w-${++jobCount}`, dataset: 'sales', granularity, delayHours, schedule, entity: 'region' }));
  const outcome = await runAnalyticsJob(p.db, job.name, new Date(fireTime), 'manual');
  return { job, outcome, stored: await listResults(p.db, job.name) };
}

describe('the EVERYDAY8AMET schedule', () => {
  it('fires at 8:00 New York time across both DST changes: 12:00Z in EDT and 13:00Z in EST', () => {
    // Prepare
    const schedule = parseSchedule('EVERYDAY8AMET');

    // Act
    const spring = fireTimesBetween(schedule, new Date('2024-03-09T00:00:00Z'), new Date('2024-03-11T23:59:59Z'));
    const fall = fireTimesBetween(schedule, new Date('2024-11-02T00:00:00Z'), new Date('2024-11-04T23:59:59Z'));

    // Assess
    expect([...spring, ...fall].map((t) => t.toISOString().replace('.000', ''))).toEqual(EIGHT_AM_ET);
  });
});

describe('the window a run computes', () => {
  for (const fireTime of EIGHT_AM_ET) {
    it(`fired by EVERYDAY8AMET at ${fireTime} is the aligned window that ended at or before fireTime − delay, with its records' results`, async () => {
      for (const c of DAILY_CONFIGS) {
        // Prepare
        const expected = expectedWindow(Date.parse(fireTime), c.granularity, c.delayHours);

        // Act
        const { job, outcome, stored } = await runOnce(fireTime, c.granularity, c.delayHours, 'EVERYDAY8AMET');

        // Assess
        expect(outcome.windows, `${c.granularity} delay ${c.delayHours}`).toEqual([expected]);
        expect(expected.end.getTime()).toBeLessThanOrEqual(Date.parse(fireTime) - c.delayHours * 3_600_000);
        expect(stored.length).toBeGreaterThan(0);
        expect(resultDifferences(stored, records, job, [expected])).toEqual([]);
      }
    });
  }

  it('of a weekly job is the Monday-aligned week that ended at or before fireTime − delay, across a week boundary', async () => {
    // Prepare: just before, at and after Monday 2024-03-11 00:00Z, with and without a delay.
    const cases = [
      { fireTime: '2024-03-10T00:00:00Z', granularity: '1-week', delayHours: 0, schedule: 'EVERYWEEK' },
      { fireTime: '2024-03-10T23:59:59Z', granularity: '1-week', delayHours: 0, schedule: 'EVERYWEEK' },
      { fireTime: '2024-03-11T00:00:00Z', granularity: '1-week', delayHours: 0, schedule: 'EVERYWEEK' },
      { fireTime: '2024-03-11T05:00:00Z', granularity: '1-week', delayHours: 6, schedule: 'EVERYWEEK' },
      { fireTime: '2024-03-11T06:00:00Z', granularity: '1-week', delayHours: 6, schedule: 'EVERYWEEK' },
      { fireTime: '2024-03-12T08:00:00Z', granularity: '1-week', delayHours: 48, schedule: 'EVERYDAY8AMET' },
      { fireTime: '2024-03-11T00:00:00Z', granularity: '2-week', delayHours: 0, schedule: 'EVERYWEEK' },
    ];
    // The Mondays, by hand: 2024-02-26, 2024-03-04, 2024-03-11.
    const monday = (d: number) => new Date(Date.UTC(2024, 1, 26) + d * DAY);

    for (const c of cases) {
      // Act
      const { job, outcome, stored } = await runOnce(c.fireTime, c.granularity, c.delayHours, c.schedule);

      // Assess
      const expected = expectedWindow(Date.parse(c.fireTime), c.granularity, c.delayHours);
      expect(outcome.windows, `${c.fireTime} ${c.granularity} delay ${c.delayHours}`).toEqual([expected]);
      expect(expected.start.getUTCDay()).toBe(1);
      expect(resultDifferences(stored, records, job, [expected])).toEqual([]);
      expect(stored.length).toBeGreaterThan(0);
    }
    expect(expectedWindow(Date.parse('2024-03-10T23:59:59Z'), '1-week', 0)).toEqual({ start: monday(0), end: monday(7) });
    expect(expectedWindow(Date.parse('2024-03-11T00:00:00Z'), '1-week', 0)).toEqual({ start: monday(7), end: monday(14) });
    expect(expectedWindow(Date.parse('2024-03-11T05:00:00Z'), '1-week', 6)).toEqual({ start: monday(0), end: monday(7) });
  });
});
