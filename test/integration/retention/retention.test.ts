import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { prng } from '../../../localstack/demo/sampleData.ts';
import { DEFAULT_RETENTION, runRetention } from '../../../lib/retention/retention.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { migrate } from '../../../lib/store/migrate.ts';

const schema = `it_retention_${randomBytes(3).toString('hex')}`;
const NOW = new Date('2026-12-01T12:00:00Z');
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY);
let db: Db;

beforeAll(async () => {
  db = connectDb({ url: inject('databaseUrl'), schema, max: 2 });
  await migrate(db);
});

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
});

interface Fixture {
  jobs: { jobId: number; status: string; ageDays: number | null }[];
  rejects: { jobId: number }[];
  metrics: { jobId: number | null; ageDays: number }[];
  runs: { ageDays: number; status: string }[];
  usage: { ageDays: number }[];
}

/** Jobs, rejects, metrics and runs of random ages around each limit, written directly as rows. */
async function seed(seed: number): Promise<Fixture> {
  const random = prng(seed);
  const { sql } = db;
  const around = (limit: number) => Math.max(0, limit + (random() - 0.5) * 2 * Math.min(limit, 60));
  const fixture: Fixture = { jobs: [], rejects: [], metrics: [], runs: [], usage: [] };
  const statuses = ['completed', 'completed_with_rejects', 'failed', 'processing', 'splitting', 'stopped', 'completed_with_failures'];
  for (let i = 0; i < 60; i++) {
    const status = statuses[Math.floor(random() * statuses.length)]!;
    const running = status === 'processing' || status === 'splitting';
    // Jobs' ages straddle both job limits: the rejects' and the job's own.
    const ageDays = running ? null : around(random() < 0.5 ? DEFAULT_RETENTION.rejectedRecords : DEFAULT_RETENTION.finishedJobs);
    const created = daysAgo((ageDays ?? 500) + 1);
    const [row] = await sql`
      insert into ${db.table('batch_jobs')} (dataset, bucket, key, object_version, status, partition_bytes, created_at, finished_at)
      values ('d', 'b', ${`k${seed}-${i}`}, 'v', ${status}, 1024, ${created}, ${ageDays === null ? null : daysAgo(ageDays)})
      returning job_id`;
    const jobId = Number(row!.job_id);
    fixture.jobs.push({ jobId, status, ageDays });
    const rejects = Math.floor(random() * 4);
    for (let seq = 0; seq < rejects; seq++) {
      await sql`insert into ${db.table('rejected_records')} ${sql({ job_id: jobId, partition_idx: 0, seq, line_in_partition: seq + 2, byte_offset: seq * 10, reason: 'bad', raw: 'x' })}`;
      fixture.rejects.push({ jobId });
    }
  }
  for (let i = 0; i < 200; i++) {
    const job = random() < 0.5 ? fixture.jobs[Math.floor(random() * fixture.jobs.length)]!.jobId : null;
    const ageDays = around(DEFAULT_RETENTION.performanceMetrics);
    await sql`insert into ${db.table('performance_metrics')} (component, metric_name, metric_value, recorded_at, job_id) values ('processor', 'parse_ms', 1, ${daysAgo(ageDays)}, ${job})`;
    fixture.metrics.push({ jobId: job, ageDays });
  }
  for (let i = 0; i < 80; i++) {
    const ageDays = around(DEFAULT_RETENTION.analyticsRuns);
    const status = random() < 0.1 ? 'running' : 'succeeded';
    await sql`insert into ${db.table('analytics_runs')} (job, trigger, fire_time, started_at, status) values ('j', 'schedule', ${daysAgo(ageDays)}, ${daysAgo(ageDays)}, ${status})`;
    fixture.runs.push({ ageDays, status });
  }
  for (let i = 0; i < 40; i++) {
    const ageDays = around(DEFAULT_RETENTION.resourceUsage);
    await sql`insert into ${db.table('resource_usage')} ${sql({ function: 'processor', request_id: `r${i}`, started_at: daysAgo(ageDays), duration_ms: 5, succeeded: true, max_rss_mib: 100, pool_cap: 2 })}`;
    fixture.usage.push({ ageDays });
  }
  return fixture;
}

const count = async (table: 'batch_jobs' | 'rejected_records' | 'performance_metrics' | 'analytics_runs' | 'resource_usage') =>
  Number((await db.sql`select count(*) as n from ${db.table(table)}`)[0]!.n);

describe('retention', () => {
  it('deletes exactly what is past its limit, never a running job or run, in batches, and a second pass deletes nothing', async () => {
    // Prepare
    const f = await seed(3);
    const jobAge = new Map(f.jobs.map((j) => [j.jobId, j.ageDays]));
    const jobGoes = (jobId: number) => (jobAge.get(jobId) ?? -1) > DEFAULT_RETENTION.finishedJobs;
    const rejectGoes = (jobId: number) => (jobAge.get(jobId) ?? -1) > DEFAULT_RETENTION.rejectedRecords;
    // Expected from the fixture's own ages: rows of a deleted job go with it (cascade).
    const expected = {
      jobs: f.jobs.filter((j) => !jobGoes(j.jobId)).length,
      rejects: f.rejects.filter((r) => !rejectGoes(r.jobId) && !jobGoes(r.jobId)).length,
      metrics: f.metrics.filter((m) => m.ageDays <= DEFAULT_RETENTION.performanceMetrics && !(m.jobId !== null && jobGoes(m.jobId))).length,
      runs: f.runs.filter((r) => r.status === 'running' || r.ageDays <= DEFAULT_RETENTION.analyticsRuns).length,
      usage: f.usage.filter((u) => u.ageDays <= DEFAULT_RETENTION.resourceUsage).length,
    };

    // Act
    const first = await runRetention(db, { now: NOW, batch: 7 });
    const left = { jobs: await count('batch_jobs'), rejects: await count('rejected_records'), metrics: await count('performance_metrics'), runs: await count('analytics_runs'), usage: await count('resource_usage') };
    const second = await runRetention(db, { now: NOW, batch: 7 });

    // Assess
    expect(left).toEqual(expected);
    expect(first.complete).toBe(true);
    expect(first.deleted.finishedJobs).toBe(f.jobs.length - expected.jobs);
    expect(first.deleted.analyticsRuns).toBe(f.runs.length - expected.runs);
    expect(first.deleted.finishedJobs).toBeGreaterThan(7);
    expect(first.deleted.resourceUsage).toBe(f.usage.length - expected.usage);
    expect(first.deleted.resourceUsage).toBeGreaterThan(0);
    expect(second.deleted).toEqual({ performanceMetrics: 0, rejectedRecords: 0, analyticsRuns: 0, finishedJobs: 0, resourceUsage: 0 });
    expect(f.jobs.filter((j) => j.ageDays === null).every((j) => !jobGoes(j.jobId))).toBe(true);
  });

  it('stops at its deadline with the rest left for the next pass', async () => {
    // Prepare
    await seed(4);

    // Act
    const stopped = await runRetention(db, { now: NOW, deadlineMs: Date.now() - 1 });
    const resumed = await runRetention(db, { now: NOW });

    // Assess
    expect(stopped).toEqual({ deleted: { performanceMetrics: 0, rejectedRecords: 0, analyticsRuns: 0, finishedJobs: 0, resourceUsage: 0 }, complete: false });
    expect(resumed.complete).toBe(true);
    expect(resumed.deleted.performanceMetrics).toBeGreaterThan(0);
  });

  it('deletes a created job (opened through the API, never started) once it has waited longer than a finished job is kept', async () => {
    // Prepare: one just past the limit, one just within it, by creation (a created job has no finish).
    const { sql } = db;
    const insert = async (key: string, ageDays: number) => {
      const [row] = await sql`
        insert into ${db.table('batch_jobs')} (dataset, bucket, key, object_version, status, partition_bytes, created_at)
        values ('d', 'b', ${key}, 'v', 'created', 1024, ${daysAgo(ageDays)}) returning job_id`;
      return Number(row!.job_id);
    };
    const abandoned = await insert('created-old', DEFAULT_RETENTION.finishedJobs + 1);
    const waiting = await insert('created-young', DEFAULT_RETENTION.finishedJobs - 1);

    // Act
    await runRetention(db, { now: NOW });
    const left = await sql`select job_id from ${db.table('batch_jobs')} where job_id in ${sql([abandoned, waiting])}`;

    // Assess
    expect(left.map((r) => Number(r.job_id))).toEqual([waiting]);
  });
});
