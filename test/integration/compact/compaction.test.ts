import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runAnalyticsJob } from '../../../lib/analytics/runAnalyticsJob.ts';
import { compactPartials } from '../../../lib/compact/compactor.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { BUCKET_ORIGIN_MS } from '../../../lib/rollup/granularity.ts';
import { listResults } from '../../../lib/store/analytics.ts';
import { compactShard, pendingCompactionShards } from '../../../lib/store/rollups.ts';
import { HOUR } from '../../support/time.ts';
import { putJob, resultDifferences, salesJob, uploadSales } from '../analytics/support.ts';
import { compareQueries } from '../pipeline/expected.ts';
import { processPartition } from '../../../lib/process/processPartition.ts';
import { getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { queryRollups } from '../../../lib/query/queryRollups.ts';
import { stopIngestJob } from '../../../lib/recovery/recovery.ts';
import { salesFile } from '../analytics/support.ts';
import { createHeld, ownPool, processContext, registerDataset, salesCsv, splitHeld, usePipeline } from '../pipeline/pipeline.ts';
import type { FlatRecord } from '../pipeline/records.ts';

// Compaction driven by the tests (no pass after each job), and aggregators that flush every few
// dozen cells, so every partition appends several partial rows per cell.
const p = usePipeline('compaction', { environment: { COMPACT_AFTER_JOB: 'false', PARTIAL_FLUSH_CELLS: '64' } });

const ORIGIN = new Date(BUCKET_ORIGIN_MS).toISOString();
const MARCH: readonly [number, number] = [Date.UTC(2024, 2, 1), Date.UTC(2024, 3, 20)];

/** Partial and compacted rows of a dataset. */
async function rowCounts(dataset: string): Promise<{ partial: number; compacted: number }> {
  const [row] = await p.db.sql<{ partial: number; compacted: number }[]>`
    select (select count(*) from ${p.db.table('rollup_partials')} where dataset = ${dataset})::int as partial,
           (select count(*) from ${p.db.table('rollups')} where dataset = ${dataset})::int as compacted`;
  return row;
}

/** Every rollup at every granularity against the independent computation over `records`. */
async function problemsOf(def: DatasetDefinition, records: readonly FlatRecord[]): Promise<string[]> {
  return (await compareQueries(p.db, def, records, def.rollups)).problems;
}

describe('partial aggregates and their compaction', () => {
  it('answer queries exactly before, during and after compaction, late data into compacted cells included', async () => {
    // Prepare
    const def = await registerDataset(p, salesCsv('mixed'));
    const first = await uploadSales(p, def, 'uploads/mixed/first.csv', { records: 3000, seed: 41, ranges: [MARCH] });
    const uncompacted = await rowCounts('mixed');
    const beforeCompaction = await problemsOf(def, first);

    // Act
    const compacted = await compactPartials(p.db, { dataset: 'mixed' });
    const afterCompaction = await rowCounts('mixed');
    const exactCompacted = await problemsOf(def, first);
    // Late data: the same cells again, appended as partial rows next to the compacted ones.
    const late = await uploadSales(p, def, 'uploads/mixed/late.csv', { records: 2000, seed: 42, ranges: [MARCH] });
    const mixed = await rowCounts('mixed');
    const exactMixed = await problemsOf(def, [...first, ...late]);
    // Half the shards compacted, half not: compacted rows updated in place next to untouched partial rows.
    const shards = await pendingCompactionShards(p.db, ORIGIN, 'mixed');
    for (const shard of shards.slice(0, Math.ceil(shards.length / 2))) await compactShard(p.db, shard);
    const halfway = await rowCounts('mixed');
    const exactHalfway = await problemsOf(def, [...first, ...late]);
    await compactPartials(p.db, { dataset: 'mixed' });
    const done = await rowCounts('mixed');
    const exactDone = await problemsOf(def, [...first, ...late]);

    // Assess
    expect(uncompacted.compacted).toBe(0);
    expect(uncompacted.partial).toBeGreaterThan(0);
    expect(beforeCompaction).toEqual([]);
    expect(compacted.partialRows).toBe(uncompacted.partial);
    expect(compacted.remaining).toBe(0);
    expect(afterCompaction).toEqual({ partial: 0, compacted: compacted.cells });
    expect(exactCompacted).toEqual([]);
    expect(mixed.partial).toBeGreaterThan(0);
    expect(mixed.compacted).toBe(afterCompaction.compacted);
    expect(exactMixed).toEqual([]);
    expect(shards.length).toBeGreaterThan(1);
    expect(halfway.partial).toBeGreaterThan(0);
    expect(halfway.partial).toBeLessThan(mixed.partial);
    expect(exactHalfway).toEqual([]);
    expect(done.partial).toBe(0);
    expect(exactDone).toEqual([]);
  });

  it('compacts each partial row once when several compactors run at once and again', async () => {
    // Prepare
    const def = await registerDataset(p, salesCsv('racing'));
    const records = await uploadSales(p, def, 'uploads/racing/a.csv', { records: 3000, seed: 43, ranges: [MARCH] });
    const before = await rowCounts('racing');
    const pools = [ownPool(p), ownPool(p), ownPool(p)];

    // Act
    const passes = await Promise.all(pools.map((db) => compactPartials(db, { dataset: 'racing', concurrency: 2 })));
    const again = await compactPartials(p.db, { dataset: 'racing' });
    await Promise.all(pools.map((db) => db.close()));
    const after = await rowCounts('racing');

    // Assess
    // A shard one pass held is skipped by the others (busy) or found empty once it is done.
    expect(passes.reduce((n, r) => n + r.partialRows, 0)).toBe(before.partial);
    expect(again).toMatchObject({ shards: 0, partialRows: 0 });
    expect(after.partial).toBe(0);
    expect(await problemsOf(def, records)).toEqual([]);
  });

  it('keeps every partial row when a compaction fails or its process is killed midway, and the next pass completes it', async () => {
    // Prepare
    const def = await registerDataset(p, salesCsv('crash'));
    const records = await uploadSales(p, def, 'uploads/crash/a.csv', { records: 2000, seed: 44, ranges: [MARCH] });
    const before = await rowCounts('crash');
    const { sql } = p.db;
    const rollups = p.db.table('rollups');
    const fault = sql(`${p.schema}.inject_compaction_fault`);
    const trigger = async (body: string) => {
      await sql.unsafe(`create or replace function ${p.schema}.inject_compaction_fault() returns trigger language plpgsql as $$ begin ${body} return new; end $$`);
      await sql`create trigger inject_compaction_fault before insert on ${rollups} for each row when (new.dataset = 'crash') execute function ${fault}()`;
    };
    const untrigger = () => sql`drop trigger inject_compaction_fault on ${rollups}`;

    // Act
    // 1. An error in the middle of a shard's statement: its transaction rolls back.
    await trigger(`if random() < 0.02 then raise exception 'injected compaction fault'; end if;`);
    const failed = await compactPartials(p.db, { dataset: 'crash', concurrency: 1 }).then(() => 'no error', (e: Error) => e.message);
    const afterError = await rowCounts('crash');
    const exactAfterError = await problemsOf(def, records);
    await untrigger();
    // 2. The compactor's process killed mid-statement, as Lambda kills a container that times out.
    // One pause, on the first row: Postgres notices the dead client when the statement next talks to
    // it, and never commits a transaction whose COMMIT did not come.
    await sql.unsafe(`create sequence ${p.schema}.compaction_fault_rows`);
    await trigger(`if nextval('${p.schema}.compaction_fault_rows') = 1 then perform pg_sleep(2); end if;`);
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./compactorProcess.ts', import.meta.url)), p.databaseUrl, p.schema, 'crash'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const backend = await waitForCompaction(p.schema);
    child.kill('SIGKILL');
    const signal = await exited;
    // Postgres sees the socket close and rolls the transaction back.
    await waitForBackendGone(backend);
    await untrigger();
    const afterKill = await rowCounts('crash');
    const exactAfterKill = await problemsOf(def, records);
    const next = await compactPartials(p.db, { dataset: 'crash' });
    const after = await rowCounts('crash');

    // Assess
    expect(failed).toMatch(/of \d+ compaction shards failed .*dataset "crash" .*injected compaction fault/);
    expect(afterError.partial).toBeGreaterThan(0);
    expect(exactAfterError).toEqual([]);
    expect(signal).toBe('SIGKILL');
    expect(afterKill.partial).toBeGreaterThan(0);
    expect(exactAfterKill).toEqual([]);
    expect(next.partialRows).toBe(afterKill.partial);
    expect(after.partial).toBe(0);
    expect(before.partial).toBeGreaterThanOrEqual(afterError.partial);
    expect(await problemsOf(def, records)).toEqual([]);
  });

  it('compacts buckets at both ends of the calendar: year 1 (its range starting in 1 BC) and year 9999', async () => {
    // Prepare
    const def = await registerDataset(p, salesCsv('calendar'));
    const early = Date.parse('0001-01-02T00:00:00Z');
    const late = Date.parse('9999-12-01T00:00:00Z');
    const records = await uploadSales(p, def, 'uploads/calendar/a.csv', { records: 1500, seed: 48, ranges: [[early, early + 3 * 86_400_000], [late, late + 10 * 86_400_000]] });

    // Act
    const result = await compactPartials(p.db, { dataset: 'calendar' });
    const after = await rowCounts('calendar');

    // Assess
    expect(result.shards).toBeGreaterThan(1);
    expect(after.partial).toBe(0);
    expect(await problemsOf(def, records)).toEqual([]);
  });

  it('marks stale the analytics windows late data falls in after compaction, and recomputes them exactly', async () => {
    // Prepare: daily windows 2024-03-03 to 2024-03-08 computed over compacted rollups.
    const def = await registerDataset(p, salesCsv('late'));
    const day = (d: number) => new Date(Date.UTC(2024, 2, d));
    const first = await uploadSales(p, def, 'uploads/late/march.csv', { records: 3000, seed: 45, ranges: [[day(1).getTime(), day(10).getTime()]] });
    await compactPartials(p.db, { dataset: 'late' });
    const job = await putJob(p, salesJob({ name: 'late-compacted', dataset: 'late', granularity: '1-day', entity: 'region' }));
    await runAnalyticsJob(p.db, job.name, day(4), 'manual');
    await runAnalyticsJob(p.db, job.name, day(8), 'manual');

    // Act
    const lateStart = day(5).getTime() + 10 * HOUR;
    const late = await uploadSales(p, def, 'uploads/late/late.csv', { records: 80, seed: 46, ranges: [[lateStart, lateStart + 4 * HOUR]] });
    const stale = await p.db.sql`select window_start from ${p.db.table('analytics_windows')} where job = ${job.name} and stale`;
    // Over compacted rows and the late data's partial rows.
    const mixed = await runAnalyticsJob(p.db, job.name, day(9), 'manual');
    const resultsMixed = await listResults(p.db, job.name);
    await compactPartials(p.db, { dataset: 'late' });
    // The same window by a new job, over compacted rows only.
    const fresh = await putJob(p, salesJob({ name: 'late-compacted-fresh', dataset: 'late', granularity: '1-day', entity: 'region' }));
    await runAnalyticsJob(p.db, fresh.name, day(6), 'manual');
    const resultsCompacted = await listResults(p.db, fresh.name);

    // Assess
    const touched = { start: day(5), end: day(6) };
    const fired = { start: day(8), end: day(9) };
    const all = [...first, ...late];
    expect(stale.map((r) => r.window_start)).toEqual([touched.start]);
    expect(mixed.windows).toEqual([touched, fired]);
    const inWindow = (w: { start: Date }) => (r: { windowStart: Date }) => r.windowStart.getTime() === w.start.getTime();
    expect(resultDifferences(resultsMixed.filter(inWindow(touched)), all, job, [touched])).toEqual([]);
    expect(resultDifferences(resultsMixed.filter(inWindow(fired)), all, job, [fired])).toEqual([]);
    expect(resultDifferences(resultsCompacted, all, fresh, [touched])).toEqual([]);
  });
});

describe('compaction and jobs that can still fail on their reject threshold', () => {
  it('leaves a running job’s partial rows to queries, and a job that fails past maxRejectedPercent leaves none anywhere', async () => {
    // Prepare: 1,200 good records (the split's sample passes), then every other one a reject: 30 %.
    const def = await registerDataset(p, { ...salesCsv('threshold'), maxRejectedPercent: 10 });
    const header = 'ts,region,note,product,amount,quantity\r\n';
    const line = (i: number) => `2024-03-0${1 + (i % 9)}T10:00:00Z,r${i % 3},,p${i % 4},${i >= 1200 && i % 2 === 0 ? 'n/a' : i % 50},1\r\n`;
    const body = Buffer.from(header + Array.from({ length: 3000 }, (_, i) => line(i)).join(''));
    const held = await createHeld(p);
    const { outcome, messages } = await splitHeld(p, held, 'uploads/threshold/a.csv', body);
    const context = processContext(p);
    const rows = async () => {
      const [row] = await p.db.sql<{ partial: number; compacted: number }[]>`
        select (select count(*) from ${p.db.table('rollup_partials')} where job_id = ${outcome.jobId!})::int as partial,
               (select count(*) from ${p.db.table('rollups')} where dataset = 'threshold')::int as compacted`;
      return row;
    };

    // Act: half the partitions, a compaction pass, then the rest and another pass.
    for (const message of messages.slice(0, messages.length / 2)) await processPartition(context, message);
    const whileRunning = await compactPartials(p.db, { dataset: 'threshold' });
    const running = await rows();
    const queried = await queryRollups(p.db, def, { granularity: '1-day', by: [] });
    for (const message of messages.slice(messages.length / 2)) await processPartition(context, message);
    const job = (await getIngestJob(p.db, outcome.jobId!))!;
    const ended = await rows();
    const afterEnd = await compactPartials(p.db, { dataset: 'threshold' });

    // Assess
    expect(messages.length).toBeGreaterThan(3);
    expect(whileRunning).toMatchObject({ shards: 0, partialRows: 0 });
    expect(running.partial).toBeGreaterThan(0);
    expect(running.compacted).toBe(0);
    // By design a running job's partial rows are answered (they disappear if it fails).
    expect(queried.length).toBeGreaterThan(0);
    expect(job).toMatchObject({ status: 'failed', failedOnRejects: true, recordsRead: 3000, recordsRejected: 900 });
    expect(ended).toEqual({ partial: 0, compacted: 0 });
    expect(afterEnd).toMatchObject({ partialRows: 0 });
    expect(await queryRollups(p.db, def, { granularity: '1-day', by: [] })).toEqual([]);
  });

  it('compacts a stopped job’s rows only when it has no threshold to fail on later', async () => {
    // Prepare: two jobs stopped midway, one of a dataset with a threshold.
    const held = await createHeld(p);
    const stoppedRows = async (dataset: string, threshold: number | null) => {
      await registerDataset(p, { ...salesCsv(dataset), maxRejectedPercent: threshold });
      const { outcome, messages } = await splitHeld(p, held, `uploads/${dataset}/a.csv`, salesFile({ records: 1500, seed: 49, ranges: [MARCH] }));
      await processPartition(processContext(p), messages[0]);
      await stopIngestJob(p.db, outcome.jobId!);
      const [row] = await p.db.sql<{ n: number }[]>`select count(*)::int as n from ${p.db.table('rollup_partials')} where job_id = ${outcome.jobId!}`;
      return { jobId: outcome.jobId!, partial: row.n };
    };
    const free = await stoppedRows('stopped_free', null);
    const bound = await stoppedRows('stopped_bound', 50);

    // Act
    await compactPartials(p.db, { dataset: 'stopped_free' });
    await compactPartials(p.db, { dataset: 'stopped_bound' });
    const [after] = await p.db.sql<{ free: number; bound: number }[]>`
      select (select count(*) from ${p.db.table('rollup_partials')} where job_id = ${free.jobId})::int as free,
             (select count(*) from ${p.db.table('rollup_partials')} where job_id = ${bound.jobId})::int as bound`;

    // Assess
    expect(free.partial).toBeGreaterThan(0);
    expect(bound.partial).toBeGreaterThan(0);
    expect(after).toEqual({ free: 0, bound: bound.partial });
  });
});

/** Returns once the backend `pid` has ended. */
async function waitForBackendGone(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await p.db.sql`select 1 from pg_stat_activity where pid = ${pid}`;
    if (!row) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`backend ${pid} is still there`);
}

/** The pid of the backend running a compaction statement in `schema`, once it runs. */
async function waitForCompaction(schema: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const [row] = await p.db.sql<{ pid: number }[]>`
      select pid from pg_stat_activity
      where state = 'active' and query like ${`%delete from "${schema}"."rollup_partials"%`} and pid <> pg_backend_pid()`;
    if (row) return row.pid;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('no compaction statement started');
}

describe('job and partition times', () => {
  it('are when things happened, not when their transactions began', async () => {
    // Prepare: each partition's bytes arrive slowly, inside its open merge transaction.
    await registerDataset(p, salesCsv('timed'));
    const held = await createHeld(p);
    const { outcome, messages } = await splitHeld(p, held, 'uploads/timed/a.csv', salesFile({ records: 400, seed: 47, ranges: [MARCH] }));
    const context = processContext(p);
    const PAUSE_MS = 400;
    const slow = {
      ...context,
      objects: {
        ...context.objects,
        async stream(...args: Parameters<typeof context.objects.stream>) {
          const chunks = await context.objects.stream(...args);
          return (async function* () {
            for await (const chunk of chunks) {
              await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
              yield chunk;
            }
          })();
        },
      },
    };

    // Act
    const started = Date.now();
    for (const message of messages) await processPartition(slow, message);
    const elapsed = Date.now() - started;
    const job = (await getIngestJob(p.db, outcome.jobId!))!;
    const partitions = await p.db.sql<{ startedAt: Date; completedAt: Date }[]>`
      select started_at as "startedAt", completed_at as "completedAt" from ${p.db.table('batch_partitions')} where job_id = ${job.jobId}`;

    // Assess
    expect(job.status).toBe('completed');
    for (const part of partitions) expect(part.completedAt.getTime() - part.startedAt.getTime()).toBeGreaterThanOrEqual(PAUSE_MS);
    expect(job.finishedAt!.getTime() - job.createdAt.getTime()).toBeGreaterThanOrEqual(elapsed);
  });
});
