import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { getIngestJob, openIngestJob } from '../../../lib/store/ingestJobs.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { beginAttempt, failPartition, getPartition, markEnqueued, recordSplit } from '../../../lib/store/partitions.ts';
import { watchdogTimings } from '../../../lib/topology.ts';
import { runWatchdog } from '../../../lib/watchdog/watchdog.ts';

/**
 * The watchdog against a real Postgres, with the topology's own limits: rows are aged by moving
 * their timestamps back (as the clock would), and each rule is checked on both sides of its limit.
 */

const schema = `it_watchdog_${randomBytes(4).toString('hex')}`;
let db: Db;
const limits = watchdogTimings();

beforeAll(async () => {
  db = connectDb({ url: inject('databaseUrl'), schema, max: 2 });
  await migrate(db);
});
afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
});

let objects = 0;
async function job(partitions: number): Promise<number> {
  const { job } = await openIngestJob(db, { dataset: 'd', bucket: 'b', key: `k${++objects}`, objectVersion: 'v', objectSize: 100, partitionBytes: 10 });
  if (partitions > 0) {
    const plan = Array.from({ length: partitions }, (_, idx) => ({ idx, sourceKey: `k${objects}`, rangeStart: idx * 10, rangeEnd: idx * 10 + 10, exactRange: false }));
    await recordSplit(db, job.jobId, { format: 'csv', compression: 'none', columns: ['a'], headerLines: 1, dataStart: 0, splitMs: 1, partitions: plan });
  }
  return job.jobId;
}

/** Moves a job's or partition's clock back by `seconds`. */
async function age(jobId: number, seconds: number, idx?: number): Promise<void> {
  const back = db.sql`make_interval(secs => ${seconds})`;
  if (idx === undefined) {
    await db.sql`update ${db.table('batch_jobs')} set created_at = created_at - ${back}, split_started_at = split_started_at - ${back}, split_finished_at = split_finished_at - ${back} where job_id = ${jobId}`;
  } else {
    await db.sql`update ${db.table('batch_partitions')} set started_at = started_at - ${back}, enqueued_at = enqueued_at - ${back} where job_id = ${jobId} and idx = ${idx}`;
  }
}

describe('the watchdog', () => {
  it('fails a split no attempt will come for, and leaves one still within its time', async () => {
    // Prepare
    const stale = await job(0);
    const lastAttempt = await job(0);
    const fresh = await job(0);
    await db.sql`update ${db.table('batch_jobs')} set split_attempts = 1, split_started_at = now() where job_id in (${stale}, ${fresh})`;
    await db.sql`update ${db.table('batch_jobs')} set split_attempts = ${limits.ingestMaxReceives}, split_started_at = now() where job_id = ${lastAttempt}`;
    await age(stale, limits.splitStaleSeconds + 5);
    await age(lastAttempt, limits.splitLastAttemptStaleSeconds + 5);
    await age(fresh, limits.splitLastAttemptStaleSeconds + 5);

    // Act
    const report = await runWatchdog(db, limits);
    const [a, b, c] = await Promise.all([stale, lastAttempt, fresh].map((id) => getIngestJob(db, id)));

    // Assess
    expect(report.splitsFailed.map((s) => s.jobId).sort()).toEqual([stale, lastAttempt].sort());
    expect(a).toMatchObject({ status: 'failed' });
    expect(a!.reason).toMatch(/^the split did not finish: 1 attempt\(s\)/);
    expect(b!.status).toBe('failed');
    expect(c!.status).toBe('splitting');
  });

  it('fails partitions that dead-lettered unmarked, expired or were never sent, ends the job by its counts, and spares the rest', async () => {
    // Prepare
    const jobId = await job(6);
    await markEnqueued(db, jobId, [0, 1, 2, 3, 4]);
    for (const idx of [0, 1, 2]) await beginAttempt(db, jobId, idx);
    await age(jobId, limits.partitionStaleSeconds + 5, 0); // one attempt long ago, none since
    await db.sql`update ${db.table('batch_partitions')} set attempts = ${limits.partitionMaxReceives} where job_id = ${jobId} and idx = 1`;
    await age(jobId, limits.partitionLastAttemptStaleSeconds + 5, 1); // the last allowed attempt, past its timeout
    await age(jobId, limits.partitionLastAttemptStaleSeconds + 5, 2); // an earlier attempt: SQS will deliver again
    await age(jobId, limits.partitionExpirySeconds + 5, 3); // sent, never received, past retention
    // 4: sent recently, waiting in the queue. 5: never sent, the split long finished:
    await age(jobId, limits.splitStaleSeconds + 5);

    // Act
    const report = await runWatchdog(db, limits);
    const states = await Promise.all([0, 1, 2, 3, 4, 5].map(async (idx) => (await getPartition(db, jobId, idx))!));
    const after = (await getIngestJob(db, jobId))!;

    // Assess
    expect(report.partitionsFailed.map((p) => p.idx)).toEqual([0, 1, 3, 5]);
    expect(states.map((s) => s.status)).toEqual(['failed', 'failed', 'processing', 'failed', 'pending', 'failed']);
    expect(states[0]!.error).toMatch(/^no attempt since .* \(1 started/);
    expect(states[3]!.error).toMatch(/was not received within the queue's retention/);
    expect(states[5]!.error).toMatch(/never sent/);
    expect(after).toMatchObject({ status: 'processing', partitionsFailed: 4, partitionsDone: 0 });
  });

  it('does not fail a partition whose new attempt started after it looked, and a second run finds nothing', async () => {
    // Prepare
    const jobId = await job(1);
    await markEnqueued(db, jobId, [0]);
    await beginAttempt(db, jobId, 0);
    await age(jobId, limits.partitionStaleSeconds + 5, 0);
    // A redelivery starts another attempt: the attempt count moves on.
    await beginAttempt(db, jobId, 0);
    await age(jobId, limits.partitionStaleSeconds + 5, 0);
    const seen = (await getPartition(db, jobId, 0))!;
    await beginAttempt(db, jobId, 0);

    // Act: the watchdog's decision was made on `seen`; the guard is the attempt count.
    const applied = await failPartition(db, jobId, 0, 'stale', { attempts: seen.attempts });
    const second = await runWatchdog(db, limits);

    // Assess
    expect(applied).toBe(false);
    expect((await getPartition(db, jobId, 0))!.status).toBe('processing');
    expect(second.partitionsFailed.filter((p) => p.jobId === jobId)).toEqual([]);
  });
});
