import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDatasetDefinition } from '../../../lib/datasets/definition.ts';
import { putDataset } from '../../../lib/store/datasets.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { startLocalStack, type LocalStack } from '../../../localstack/stack.ts';
import { uniqueStage, waitFor } from '../localstack/support.ts';
import { salesCsv } from '../pipeline/pipeline.ts';
import { expectedWindow, putJob, salesJob } from './support.ts';

let stack: LocalStack;
let db: Db;
const schema = `it_analytics_sched_${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  stack = await startLocalStack({
    stage: uniqueStage('it-analytics-sched'),
    endpoint: inject('awsEndpoint'),
    databaseUrl: inject('databaseUrl'),
    databaseSchema: schema,
    environment: { POWERTOOLS_LOG_LEVEL: 'WARN' },
    schedulerTickMs: 500,
  });
  db = connectDb({ url: inject('databaseUrl'), schema, max: 2 });
});

afterAll(async () => {
  await stack?.stop({ drainTimeoutMs: 10_000 });
  if (db) {
    await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
    await db.close();
  }
});

describe('the local scheduler', () => {
  it('fires an enabled every-minute job on the minute through the analytics function, and never a disabled one', async () => {
    // Prepare
    await putDataset(db, parseDatasetDefinition(salesCsv('sales')));
    await putJob({ db }, salesJob({ name: 'every-minute', dataset: 'sales', granularity: '1-hour', schedule: '* * * * *', enabled: true }));
    await putJob({ db }, salesJob({ name: 'switched-off', dataset: 'sales', granularity: '1-hour', schedule: '* * * * *', enabled: false }));

    // Act
    const [run] = await waitFor(
      async () => {
        const rows = await db.sql`select * from ${db.table('analytics_runs')} where status <> 'running' order by run_id`;
        return rows.length > 0 ? rows : undefined;
      },
      75_000,
      'a scheduled analytics run',
    );

    // Assess
    expect(run).toMatchObject({ job: 'every-minute', trigger: 'schedule', status: 'succeeded', error: null });
    const fireTime = run.fire_time as Date;
    expect(fireTime.getTime() % 60_000).toBe(0);
    expect(fireTime.getTime()).toBeLessThanOrEqual(Date.now());
    expect({ start: run.window_start, end: run.window_end }).toEqual(expectedWindow(fireTime.getTime(), '1-hour', 0));
    expect(stack.scheduler.fired.filter((f) => f.job === 'switched-off')).toEqual([]);
    // The invocation's outcome is recorded once the function returns, just after it closed the run.
    const fired = await waitFor(async () => stack.scheduler.fired.find((f) => f.scheduledTime.getTime() === fireTime.getTime()), 10_000, 'the invocation');
    expect(fired).toMatchObject({ job: 'every-minute', outcome: { ok: true } });
  });
});
