import { beforeAll, describe, expect, it } from 'vitest';
import { runAnalyticsJob } from '../../../lib/analytics/runAnalyticsJob.ts';
import type { ResultRow } from '../../../lib/analytics/results.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { processPartition, type PartitionOutcome } from '../../../lib/process/processPartition.ts';
import { listResults } from '../../../lib/store/analytics.ts';
import { readCsvIndependently } from '../pipeline/expected.ts';
import { createHeld, ownPool, processContext, registerDataset, salesCsv, splitHeld, usePipeline, type Held } from '../pipeline/pipeline.ts';
import type { FlatRecord } from '../pipeline/records.ts';
import { DAY, HOUR } from '../../support/time.ts';
import { putJob, resultDifferences, salesFile, salesJob, uploadSales } from './support.ts';

/**
 * The three analytics races of issue 10, each driven deterministically against real Postgres: a
 * late partition merged (by the real processor code, on a connection of its own) between a
 * window's first read and its write; a run that fails after it took the stale marks; a catch-up
 * longer than one run's cap. Expectations come from support.ts (the records read independently).
 */

const p = usePipeline('analytics-races');
let def: DatasetDefinition;
let held: Held;
const base: Record<string, FlatRecord[]> = {};

const MARCH_1 = Date.UTC(2024, 2, 1);
const MARCH_3 = Date.UTC(2024, 2, 3);
const day = (t: number) => ({ start: new Date(t), end: new Date(t + DAY) });

beforeAll(async () => {
  def = await registerDataset(p, salesCsv('first'));
  await registerDataset(p, salesCsv('failing'));
  await registerDataset(p, salesCsv('backlog'));
  held = await createHeld(p);
  const file = (seed: number) => ({ records: 3000, seed, ranges: [[MARCH_1, MARCH_3]] as [number, number][] });
  [base.first, base.failing, base.backlog] = await Promise.all([
    uploadSales(p, def, 'uploads/first/base.csv', file(21)),
    uploadSales(p, def, 'uploads/failing/base.csv', file(22)),
    uploadSales(p, def, 'uploads/backlog/base.csv', file(23)),
  ]);
});

const rowsIn = (rows: readonly ResultRow[], w: { start: Date }) => rows.filter((r) => r.windowStart.getTime() === w.start.getTime());

describe('a late partition merged while a window is computed for the first time', () => {
  it('makes the window stale, and the next run recomputes it with the late records', async () => {
    // Prepare: a late file split (one partition, not merged yet) into March 2, the window the
    // first run computes; its merge runs on a pool of its own.
    const lateBytes = salesFile({ records: 50, seed: 24, ranges: [[MARCH_1 + DAY + 10 * HOUR, MARCH_1 + DAY + 14 * HOUR]] });
    const lateRecords = readCsvIndependently(lateBytes, def).good;
    const { messages } = await splitHeld(p, held, 'uploads/first/late.csv', lateBytes);
    expect(messages).toHaveLength(1);
    const job = await putJob(p, salesJob({ name: 'first-daily', dataset: 'first', granularity: '1-day', entity: 'region' }));
    const processor = ownPool(p);
    const [{ pid }] = await processor.sql`select pg_backend_pid() as pid`;
    let merge: Promise<PartitionOutcome> | undefined;
    let merged = false;

    // Act: between the run's read of March 2 and its write, the partition merges; the hook
    // returns once the merge committed or is waiting for a lock (it may be made to wait for the
    // window's transaction, never the other way round).
    const first = await runAnalyticsJob(p.db, job.name, new Date(MARCH_3), 'manual', {
      betweenReadAndWrite: async () => {
        merge = processPartition(processContext(p, processor), messages[0]).finally(() => (merged = true));
        for (;;) {
          if (merged) return;
          const [activity] = await p.db.sql`select wait_event_type from pg_stat_activity where pid = ${pid}`;
          if (activity?.wait_event_type === 'Lock') return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
    });
    const outcome = await merge!;
    await processor.close();
    const second = await runAnalyticsJob(p.db, job.name, new Date(MARCH_3 + DAY), 'manual');
    const stored = await listResults(p.db, job.name);

    // Assess
    const march2 = day(MARCH_1 + DAY);
    expect(outcome.status).toBe('merged');
    expect(first.windows).toEqual([march2]);
    expect(second.windows).toEqual([march2, day(MARCH_3)]);
    expect(rowsIn(stored, march2).length).toBeGreaterThan(0);
    expect(resultDifferences(rowsIn(stored, march2), [...base.first, ...lateRecords], job, [march2])).toEqual([]);
  });
});

describe('a run that fails after taking the stale marks', () => {
  it('leaves them for the next run, which recomputes the windows with the late records', async () => {
    // Prepare: March 2 computed, then late data into it (its window is marked stale).
    const job = await putJob(p, salesJob({ name: 'failing-daily', dataset: 'failing', granularity: '1-day', entity: 'product' }));
    await runAnalyticsJob(p.db, job.name, new Date(MARCH_3), 'manual');
    const lateRecords = await uploadSales(p, def, 'uploads/failing/late.csv', { records: 40, seed: 25, ranges: [[MARCH_1 + DAY + HOUR, MARCH_1 + DAY + 3 * HOUR]] });
    const march2 = day(MARCH_1 + DAY);

    // Act: a run that fails on its first window (as a dropped connection would), then a good one.
    const failure = runAnalyticsJob(p.db, job.name, new Date(MARCH_3 + DAY), 'manual', {
      betweenReadAndWrite: async () => {
        throw new Error('connection lost');
      },
    });
    await expect(failure).rejects.toThrow('connection lost');
    const next = await runAnalyticsJob(p.db, job.name, new Date(MARCH_3 + 2 * DAY), 'manual');
    const stored = await listResults(p.db, job.name);

    // Assess: the next run recomputes March 2 and catches up March 3, then computes March 4.
    expect(next.windows).toEqual([march2, day(MARCH_3), day(MARCH_3 + DAY)]);
    expect(resultDifferences(rowsIn(stored, march2), [...base.failing, ...lateRecords], job, [march2])).toEqual([]);
    const runs = await p.db.sql`select status from ${p.db.table('analytics_runs')} where job = ${job.name} order by run_id`;
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded']);
  });
});

describe('a catch-up longer than one run may compute', () => {
  it('computes the oldest missed windows first and the rest in the following runs, skipping none', async () => {
    // Prepare: hourly windows; the first run computes 00:00-01:00 on March 1, the next fires
    // 47 hours later: 46 windows missed, caught up 10 per run.
    const job = await putJob(p, salesJob({ name: 'backlog-hourly', dataset: 'backlog', granularity: '1-hour' }));
    await runAnalyticsJob(p.db, job.name, new Date(MARCH_1 + HOUR), 'manual');
    const fire = new Date(MARCH_3);
    const hour = (i: number) => ({ start: new Date(MARCH_1 + i * HOUR), end: new Date(MARCH_1 + (i + 1) * HOUR) });

    // Act: as many runs at the same fire time as the backlog needs, and one more.
    const runs = [];
    for (let i = 0; i < 6; i++) runs.push(await runAnalyticsJob(p.db, job.name, fire, 'manual', { maxCatchUpWindows: 10 }));
    const stored = await listResults(p.db, job.name);

    // Assess: every run also computes the fired window (47, 2024-03-02T23:00), so results stay current.
    const fired = hour(47);
    expect(runs[0].windows).toEqual([...Array.from({ length: 10 }, (_, i) => hour(1 + i)), fired]);
    expect(runs[4].windows).toEqual([...Array.from({ length: 6 }, (_, i) => hour(41 + i)), fired]);
    expect(runs[5].windows).toEqual([fired]);
    const all = Array.from({ length: 48 }, (_, i) => hour(i));
    expect(new Set(stored.map((r) => r.windowStart.getTime())).size).toBe(48);
    expect(resultDifferences(stored, base.backlog, job, all)).toEqual([]);
  });
});
