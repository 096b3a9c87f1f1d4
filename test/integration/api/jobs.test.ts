import { randomBytes } from 'node:crypto';
import { GetBucketNotificationConfigurationCommand, PutBucketNotificationConfigurationCommand } from '@aws-sdk/client-s3';
import { CreateScheduleGroupCommand, GetScheduleCommand } from '@aws-sdk/client-scheduler';
import { createSchedulerClient } from '../../../lib/adapters/aws.ts';
import { describe, expect, it } from 'vitest';
import { s3Notification } from '../../../lib/split/s3Event.ts';
import { getIngestJob, startCreatedJob } from '../../../lib/store/ingestJobs.ts';
import { staleSplits } from '../../../lib/store/watchdog.ts';
import { watchdogTimings } from '../../../lib/topology.ts';
import { differences, expectedRollup } from '../pipeline/expected.ts';
import { countRows, MAX_RECORD_BYTES, PARTITION_BYTES, prepareCsv, sendBodies, upload, uploadAndWait, usePipeline, waitForEmptyQueue, waitForJob, type Pipeline } from '../pipeline/pipeline.ts';
import { call } from './client.ts';

/**
 * The job-control and analytics-definition routes through the local stack's HTTP API (the real
 * `api` function behind the API Gateway stand-in), with jobs run by the real splitter and
 * processors. Expectations come from the files themselves (csv-parse and arithmetic), their sizes
 * and the S3 notification path, not from the routes under test.
 */
// The api function keeps analytics schedules in this group of the endpoint's EventBridge Scheduler, as on AWS.
const scheduleGroup = `batchflow-api-jobs-${randomBytes(3).toString('hex')}`;
const p = usePipeline('jobs', {
  httpApiPort: 0,
  environment: {
    SCHEDULE_GROUP: scheduleGroup,
    SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/batchflow-scheduler',
    ANALYTICS_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:batchflow-analytics',
  },
});

/** Uploads with the bucket's notification to the ingest queue switched off: S3 tells the splitter nothing. */
async function uploadUnnoticed(p: Pipeline, key: string, bytes: Uint8Array): Promise<void> {
  const wiring = await p.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: p.bucket }));
  expect(wiring.QueueConfigurations?.length).toBeGreaterThan(0);
  await p.s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: p.bucket, NotificationConfiguration: {} }));
  try {
    await upload(p, key, bytes);
  } finally {
    await p.s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: p.bucket, NotificationConfiguration: { QueueConfigurations: wiring.QueueConfigurations } }));
  }
}

/** planByteRanges' count, from the file alone: ranges of at least max(partitionBytes, 2 × MAX_RECORD_BYTES + 1) after the header line. */
function expectedPartitions(bytes: Buffer, partitionBytes: number): number {
  const dataBytes = bytes.length - (bytes.indexOf(0x0a) + 1);
  return Math.max(1, Math.floor(dataBytes / Math.max(partitionBytes, 2 * MAX_RECORD_BYTES + 1)));
}

const ingestQueue = () => p.stack.state.queues.ingest.url;

describe('POST /api/batch-jobs', () => {
  it('opens a job for an object S3 did not notify about, runs it through the splitter into the rollups, and answers the same job again', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'jobs_post', { records: 1500, seed: 11, badRows: 2 });
    await uploadUnnoticed(p, 'uploads/jobs_post/a.csv', file.bytes);
    const notified = await uploadAndWait(p, 'uploads/jobs_post/b.csv', file.bytes);

    // Act
    const created = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_post/a.csv' });
    const finished = await waitForJob(p, 'uploads/jobs_post/a.csv');
    const again = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_post/a.csv' });
    const ofNotified = await call(p, 'POST', '/api/batch-jobs', { bucket: p.bucket, key: 'uploads/jobs_post/b.csv' });
    const byRegion = await call(p, 'GET', '/api/datasets/jobs_post/query?granularity=1-day&by=region');

    // Assess
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ dataset: 'jobs_post', bucket: p.bucket, key: 'uploads/jobs_post/a.csv', status: 'splitting', objectSize: file.bytes.length, configuration: {} });
    expect(finished).toMatchObject({ jobId: created.body.jobId, status: 'completed_with_rejects', recordsRead: independent.good.length + independent.rejected, recordsRejected: independent.rejected });
    expect(finished.partitionsTotal).toBe(expectedPartitions(file.bytes, PARTITION_BYTES));
    expect(again.status).toBe(200);
    expect(again.body.jobId).toBe(created.body.jobId);
    // The object S3 did notify about: its job, as the notification path opened it, not a second one.
    expect(ofNotified.status).toBe(200);
    expect(ofNotified.body.jobId).toBe(notified.jobId);
    expect(await countRows(p, 'batch_jobs', { key: 'uploads/jobs_post/a.csv' })).toBe(1);
    expect(await countRows(p, 'batch_jobs', { key: 'uploads/jobs_post/b.csv' })).toBe(1);
    // Both uploads of the same file merged: every expected sum doubles.
    const twice = [...independent.good, ...independent.good];
    expect(differences(byRegion.body.items, expectedRollup(twice, { by: ['region'], granularityMs: 86_400_000, metrics: def.metrics }), ['region'])).toEqual([]);
  });

  it('names the field of a bad request and answers a missing object with 404', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'jobs_bad', { records: 50, seed: 2 });
    await uploadUnnoticed(p, 'uploads/jobs_bad/a.csv', file.bytes);

    // Act
    const answers = await Promise.all([
      call(p, 'POST', '/api/batch-jobs'),
      call(p, 'POST', '/api/batch-jobs', {}),
      call(p, 'POST', '/api/batch-jobs', { key: 'elsewhere/a.csv' }),
      call(p, 'POST', '/api/batch-jobs', { key: 'uploads/nope/a.csv' }),
      call(p, 'POST', '/api/batch-jobs', { bucket: 'another-bucket', key: 'uploads/jobs_bad/a.csv' }),
      call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_bad/a.csv', start: 'yes' }),
      call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_bad/a.csv', priority: 1 }),
      call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_bad/missing.csv' }),
    ]);

    // Assess
    expect(answers).toEqual([
      { status: 400, body: { error: 'body must be a JSON object' } },
      { status: 400, body: { error: 'key is required: the object key, uploads/<dataset>/<file>' } },
      { status: 400, body: { error: 'key must be under uploads/<dataset>/, got "elsewhere/a.csv"' } },
      { status: 400, body: { error: 'key names dataset "nope", which does not exist (PUT /api/datasets/nope registers it)' } },
      { status: 400, body: { error: `bucket must be the stack's upload bucket "${p.bucket}", got "another-bucket"` } },
      { status: 400, body: { error: 'start must be true or false' } },
      { status: 400, body: { error: 'body has unknown field(s) "priority"' } },
      { status: 404, body: { error: `no object s3://${p.bucket}/uploads/jobs_bad/missing.csv` } },
    ]);
    expect(await countRows(p, 'batch_jobs', { dataset: 'jobs_bad' })).toBe(0);
  });
});

describe('a job created without starting', () => {
  it('waits in created, takes a name and configuration, starts once, and splits with its own partition size', async () => {
    // Prepare
    const { file, independent } = await prepareCsv(p, 'jobs_cfg', { records: 1500, seed: 5 });
    const key = 'uploads/jobs_cfg/a.csv';
    await uploadUnnoticed(p, key, file.bytes);
    // Three times the default, so the count differs from the default's.
    const partitionBytes = 3 * PARTITION_BYTES + 7;

    // Act
    const created = await call(p, 'POST', '/api/batch-jobs', { key, start: false });
    const id = created.body.jobId as number;
    // A late notification for the object (S3's own, or a repeat) leaves a created job alone.
    await sendBodies(p, ingestQueue(), [s3Notification({ bucket: p.bucket, key, size: file.bytes.length, objectVersion: created.body.objectVersion, versionId: created.body.versionId ?? undefined, eTag: created.body.eTag ?? undefined })]);
    await waitForEmptyQueue(p, ingestQueue());
    const waiting = await getIngestJob(p.db, id);
    const described = await call(p, 'PUT', `/api/batch-jobs/${id}`, { name: 'March sales', description: 'backfill', configuration: { partitionBytes, maxRejectedPercent: 40 } });
    const listed = await call(p, 'GET', '/api/batch-jobs?dataset=jobs_cfg&status=created');
    const started = await call(p, 'POST', `/api/batch-jobs/${id}/start`);
    const twice = await call(p, 'POST', `/api/batch-jobs/${id}/start`);
    const finished = await waitForJob(p, key);
    const late = await call(p, 'PUT', `/api/batch-jobs/${id}`, { configuration: { partitionBytes: PARTITION_BYTES } });
    const renamed = await call(p, 'PUT', `/api/batch-jobs/${id}`, { name: 'March sales (done)', description: null });

    // Assess
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'created', splitAttempts: 0, partitionsTotal: null, name: null, description: null });
    expect(waiting).toMatchObject({ status: 'created', splitAttempts: 0, partitionsTotal: null });
    expect(described).toMatchObject({ status: 200, body: { jobId: id, status: 'created', name: 'March sales', description: 'backfill', configuration: { partitionBytes, maxRejectedPercent: 40 } } });
    expect(listed.body.items.map((j: { jobId: number }) => j.jobId)).toEqual([id]);
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body.jobId).toBe(id);
    expect(['splitting', 'processing', 'completed']).toContain(started.body.status);
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatch(new RegExp(`^job ${id} is (splitting|processing|completed): only a created job can be started$`));
    expect(finished).toMatchObject({ status: 'completed', recordsRead: independent.good.length, partitionBytes, maxRejectedPercent: 40 });
    expect(finished.partitionsTotal).toBe(expectedPartitions(file.bytes, partitionBytes));
    expect(finished.partitionsTotal).not.toBe(expectedPartitions(file.bytes, PARTITION_BYTES));
    expect(late).toEqual({ status: 409, body: { error: `job ${id} is completed: its configuration can change only while it is created (it was split with the settings it had)` } });
    expect(renamed).toMatchObject({ status: 200, body: { name: 'March sales (done)', description: null, configuration: { partitionBytes, maxRejectedPercent: 40 } } });
  });

  it("fails on its own maxRejectedPercent where the dataset has none, and a created job can be deleted", async () => {
    // Prepare: the dataset has no threshold, so the S3 path would end this file completed_with_rejects.
    const { file, independent } = await prepareCsv(p, 'jobs_strict', { records: 400, seed: 8, badRows: 40 });
    await uploadUnnoticed(p, 'uploads/jobs_strict/a.csv', file.bytes);
    await uploadUnnoticed(p, 'uploads/jobs_strict/b.csv', file.bytes);

    // Act
    const strict = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_strict/a.csv', start: false });
    await call(p, 'PUT', `/api/batch-jobs/${strict.body.jobId}`, { configuration: { maxRejectedPercent: 1 } });
    await call(p, 'POST', `/api/batch-jobs/${strict.body.jobId}/start`);
    const failed = await waitForJob(p, 'uploads/jobs_strict/a.csv');
    const abandoned = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_strict/b.csv', start: false });
    const deleted = await call(p, 'DELETE', `/api/batch-jobs/${abandoned.body.jobId}`);
    const gone = await call(p, 'POST', `/api/batch-jobs/${abandoned.body.jobId}/start`);

    // Assess
    expect(independent.rejected * 100).toBeGreaterThan(1 * (independent.good.length + independent.rejected));
    expect(failed.status).toBe('failed');
    expect(failed.reason).toMatch(/maxRejectedPercent/);
    expect(await countRows(p, 'rollups', { dataset: 'jobs_strict' })).toBe(0);
    expect(deleted).toEqual({ status: 200, body: { jobId: abandoned.body.jobId, deleted: true } });
    expect(gone).toEqual({ status: 404, body: { error: `no job ${abandoned.body.jobId}` } });
  });

  it("starts with its dataset's definition as it is at the start, not as it was at the creation", async () => {
    // Prepare
    const { def, file } = await prepareCsv(p, 'jobs_snap', { records: 200, seed: 12 });
    await uploadUnnoticed(p, 'uploads/jobs_snap/a.csv', file.bytes);
    const { body: job } = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_snap/a.csv', start: false });
    const { name: _name, ...body } = def;
    const changed = await call(p, 'PUT', '/api/datasets/jobs_snap', { ...body, metrics: ['amount'] });

    // Act
    await call(p, 'POST', `/api/batch-jobs/${job.jobId}/start`);
    const finished = await waitForJob(p, 'uploads/jobs_snap/a.csv');

    // Assess
    expect(job.definition.metrics).toEqual(def.metrics);
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(finished.status).toBe('completed');
    expect(finished.definition?.metrics).toEqual(['amount']);
  });

  it('names the field of a bad change and answers unknown jobs with 404', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'jobs_put', { records: 50, seed: 3 });
    await uploadUnnoticed(p, 'uploads/jobs_put/a.csv', file.bytes);
    const { body: job } = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_put/a.csv', start: false });
    const put = (body: unknown) => call(p, 'PUT', `/api/batch-jobs/${job.jobId}`, body);
    const range = `from ${2 * MAX_RECORD_BYTES + 1} to ${128 * 1024 * 1024}`;

    // Act
    const answers = await Promise.all([
      put({ name: 'x'.repeat(201) }),
      put({ description: 'x'.repeat(2001) }),
      put({ name: 7 }),
      put({ configuration: { partitionBytes: 2 * MAX_RECORD_BYTES } }),
      put({ configuration: { partitionBytes: 10_000.5 } }),
      put({ configuration: { maxRejectedPercent: 101 } }),
      put({ configuration: { maxRejectedPercent: '5' } }),
      put({ configuration: { parallelism: 3 } }),
      put({ owner: 'me' }),
      call(p, 'PUT', '/api/batch-jobs/999999', { name: 'x' }),
      call(p, 'PUT', '/api/batch-jobs/abc', { name: 'x' }),
      call(p, 'POST', '/api/batch-jobs/999999/start'),
    ]);
    const unchanged = await getIngestJob(p.db, job.jobId);

    // Assess
    expect(answers).toEqual([
      { status: 400, body: { error: 'name must be at most 200 characters' } },
      { status: 400, body: { error: 'description must be at most 2000 characters' } },
      { status: 400, body: { error: 'name must be a string or null' } },
      { status: 400, body: { error: `partitionBytes must be an integer ${range} (more than twice the splitter's MAX_RECORD_BYTES)` } },
      { status: 400, body: { error: `partitionBytes must be an integer ${range}` } },
      { status: 400, body: { error: 'maxRejectedPercent must be a number from 0 to 100' } },
      { status: 400, body: { error: 'maxRejectedPercent must be a number from 0 to 100' } },
      { status: 400, body: { error: 'configuration has unknown field(s) "parallelism"' } },
      { status: 400, body: { error: 'body has unknown field(s) "owner"' } },
      { status: 404, body: { error: 'no job 999999' } },
      { status: 400, body: { error: 'jobId must be a positive integer, got "abc"' } },
      { status: 404, body: { error: 'no job 999999' } },
    ]);
    expect(unchanged).toMatchObject({ status: 'created', name: null, description: null, configuration: {} });
  });
});

describe('GET /api/batch-jobs/{jobId}/rejects', () => {
  it('answers what the older /jobs/{jobId}/rejects answers', async () => {
    // Prepare
    const { file, independent } = await prepareCsv(p, 'jobs_rejects', { records: 300, seed: 4, badRows: 5 });
    const job = await uploadAndWait(p, 'uploads/jobs_rejects/a.csv', file.bytes);

    // Act
    const api = await call(p, 'GET', `/api/batch-jobs/${job.jobId}/rejects`);
    const old = await call(p, 'GET', `/jobs/${job.jobId}/rejects`);
    const unknown = await call(p, 'GET', '/api/batch-jobs/999999/rejects');

    // Assess
    expect(api.status).toBe(200);
    expect(api.body.items).toHaveLength(independent.rejected);
    expect(api.body).toEqual(old.body);
    expect(unknown).toEqual({ status: 404, body: { error: 'no job 999999' } });
  });
});

describe('/api/analytics/jobs/{name}', () => {
  it('creates, reads, replaces, lists results of and deletes an analytics job, its results, runs and schedule', async () => {
    // Prepare
    const scheduler = createSchedulerClient({ endpoint: p.endpoint, region: p.stack.state.region });
    await scheduler.send(new CreateScheduleGroupCommand({ Name: scheduleGroup }));
    const schedule = () => scheduler.send(new GetScheduleCommand({ Name: 'daily-amount', GroupName: scheduleGroup }));
    const { file } = await prepareCsv(p, 'jobs_analytics', { records: 300, seed: 6 });
    await uploadAndWait(p, 'uploads/jobs_analytics/a.csv', file.bytes);
    const definition = { enabled: true, schedule: 'EVERYDAY8AMET', dataset: 'jobs_analytics', entity: 'region', granularity: '1-day', metrics: [{ metric: 'amount', aggregations: ['sum'] }] };

    // Act
    const created = await call(p, 'PUT', '/api/analytics/jobs/daily-amount', definition);
    const scheduled = await schedule();
    const got = await call(p, 'GET', '/api/analytics/jobs/daily-amount');
    const replaced = await call(p, 'PUT', '/api/analytics/jobs/daily-amount', { ...definition, name: 'daily-amount', enabled: false, metrics: [{ metric: 'amount', aggregations: ['sum', 'count'] }] });
    const rescheduled = await schedule();
    const run = await call(p, 'POST', '/api/analytics/jobs/daily-amount/run?at=2024-03-20T12:00:00Z');
    const results = await call(p, 'GET', '/api/analytics/jobs/daily-amount/results?from=2024-03-01');
    const oldResults = await call(p, 'GET', '/analytics/jobs/daily-amount/results?from=2024-03-01');
    const deleted = await call(p, 'DELETE', '/api/analytics/jobs/daily-amount');
    const unscheduled = await schedule().catch((err: Error) => err.name);
    scheduler.destroy();
    const [runsLeft] = await p.db.sql`select count(*)::int as n from ${p.db.table('analytics_runs')} where job = 'daily-amount'`;
    const [resultsLeft] = await p.db.sql`select count(*)::int as n from ${p.db.table('analytics_results')} where job = 'daily-amount'`;
    const afterwards = await Promise.all([
      call(p, 'GET', '/api/analytics/jobs/daily-amount'),
      call(p, 'DELETE', '/api/analytics/jobs/daily-amount'),
      call(p, 'GET', '/api/analytics/jobs/daily-amount/results'),
    ]);

    // Assess
    expect(created).toEqual({ status: 201, body: { definition: { ...definition, name: 'daily-amount', timezone: 'UTC', delayHours: 0, filter: null }, lastWindowEnd: null } });
    // EVERYDAY8AMET is 8 AM in New York, as `batchflow analytics put` schedules it (lib/adapters/jobSchedules.ts).
    expect(scheduled).toMatchObject({ ScheduleExpression: 'cron(0 8 * * ? *)', ScheduleExpressionTimezone: 'America/New_York', State: 'ENABLED' });
    expect(rescheduled.State).toBe('DISABLED');
    expect(unscheduled).toBe('ResourceNotFoundException');
    expect(got).toEqual({ status: 200, body: created.body });
    expect(replaced.status).toBe(200);
    expect(replaced.body.definition).toMatchObject({ enabled: false, metrics: [{ metric: 'amount', aggregations: ['sum', 'count'] }] });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(results.status).toBe(200);
    expect(run.body.rows.length).toBeGreaterThan(0);
    expect(results.body.items.length).toBe(run.body.rows.length);
    expect(results.body).toEqual(oldResults.body);
    expect(deleted).toEqual({ status: 200, body: { name: 'daily-amount', deleted: true } });
    expect([runsLeft!.n, resultsLeft!.n]).toEqual([0, 0]);
    expect(afterwards).toEqual([
      { status: 404, body: { error: 'no analytics job named "daily-amount"' } },
      { status: 404, body: { error: 'no analytics job named "daily-amount"' } },
      { status: 404, body: { error: 'no analytics job named "daily-amount"' } },
    ]);
  });

  it('names the field of a bad definition', async () => {
    // Prepare
    await prepareCsv(p, 'jobs_defs', { records: 10, seed: 1 });
    const definition = { schedule: 'EVERYHOUR', dataset: 'jobs_defs', granularity: '1-hour', metrics: [{ metric: 'amount', aggregations: ['sum'] }] };

    // Act
    const answers = await Promise.all([
      call(p, 'PUT', '/api/analytics/jobs/hourly', { ...definition, name: 'other' }),
      call(p, 'PUT', '/api/analytics/jobs/hourly', { ...definition, granularity: 'often' }),
      call(p, 'PUT', '/api/analytics/jobs/hourly', { ...definition, dataset: 'nope' }),
      call(p, 'PUT', '/api/analytics/jobs/hourly', { ...definition, metrics: [{ metric: 'weight', aggregations: ['sum'] }] }),
      call(p, 'PUT', '/api/analytics/jobs/hourly', [definition]),
      call(p, 'PUT', '/api/analytics/jobs/BadName', definition),
      call(p, 'GET', '/api/analytics/jobs/nope'),
    ]);

    // Assess
    expect(answers[0]).toEqual({ status: 400, body: { error: 'body name "other" is not the path\'s "hourly"' } });
    expect(answers[1].status).toBe(400);
    expect(answers[1].body.error).toMatch(/^invalid job definition: granularity: /);
    expect(answers[2]).toEqual({ status: 400, body: { error: 'invalid job definition: dataset: no dataset named "nope"' } });
    expect(answers[3].status).toBe(400);
    expect(answers[3].body.error).toContain('weight');
    expect(answers[4]).toEqual({ status: 400, body: { error: 'body must be a JSON object: the analytics job definition' } });
    expect(answers[5]).toEqual({ status: 400, body: { error: 'name must be an analytics job name, got "BadName"' } });
    expect(answers[6]).toEqual({ status: 404, body: { error: 'no analytics job named "nope"' } });
    expect(await call(p, 'GET', '/api/analytics/jobs/hourly')).toEqual({ status: 404, body: { error: 'no analytics job named "hourly"' } });
  });
});

describe('the watchdog and a created job', () => {
  it('never takes a created job for a stale split, and runs the split clock of a started one from its start', async () => {
    // Prepare: a job created a day ago, past every split limit.
    const { file } = await prepareCsv(p, 'jobs_clock', { records: 50, seed: 9 });
    await uploadUnnoticed(p, 'uploads/jobs_clock/a.csv', file.bytes);
    const { body: job } = await call(p, 'POST', '/api/batch-jobs', { key: 'uploads/jobs_clock/a.csv', start: false });
    await p.db.sql`update ${p.db.table('batch_jobs')} set created_at = now() - interval '1 day' where job_id = ${job.jobId}`;
    const limits = watchdogTimings();
    expect(limits.splitStaleSeconds).toBeLessThan(86_400);

    // Act
    const whileCreated = await staleSplits(p.db, limits);
    const started = await startCreatedJob(p.db, job.jobId);
    const onceStarted = await staleSplits(p.db, limits);

    // Assess
    expect(whileCreated.map((s) => s.jobId)).not.toContain(job.jobId);
    expect(started?.job.status).toBe('splitting');
    expect(onceStarted.map((s) => s.jobId)).not.toContain(job.jobId);
  });
});
