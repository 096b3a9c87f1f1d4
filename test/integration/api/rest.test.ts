import { describe, expect, it } from 'vitest';
import { parseAnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import { putAnalyticsJob } from '../../../lib/store/analytics.ts';
import { openIngestJob } from '../../../lib/store/ingestJobs.ts';
import { differences, expectedRollup } from '../pipeline/expected.ts';
import { prepareCsv, salesCsv, uploadAndWait, usePipeline, type Pipeline } from '../pipeline/pipeline.ts';
import { call, all } from './client.ts';
import { waitFor } from '../localstack/support.ts';

/**
 * The REST API under /api through the local stack's HTTP API (the real `api` function behind the
 * API Gateway stand-in). Expectations come from the uploads themselves (the file's records read by
 * csv-parse and plain arithmetic, the jobs' own counters), not from the routes under test.
 */
const p = usePipeline('rest', { httpApiPort: 0 });

describe('the REST API', () => {
  it('lists, filters, pages and deletes ingestion jobs, their partitions and metrics', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'rest_jobs', { records: 1200, seed: 7, badRows: 3 });
    const first = await uploadAndWait(p, 'uploads/rest_jobs/a.csv', file.bytes);
    const second = await uploadAndWait(p, 'uploads/rest_jobs/b.csv', file.bytes);
    const { job: running } = await openIngestJob(p.db, { dataset: 'rest_jobs', bucket: p.bucket, key: 'uploads/rest_jobs/c.csv', objectVersion: 'v1', objectSize: 10, partitionBytes: 8192 });

    // Act
    const jobs = await all(p, '/api/batch-jobs?dataset=rest_jobs&limit=1');
    const splitting = await call(p, 'GET', '/api/batch-jobs?dataset=rest_jobs&status=splitting');
    const future = await call(p, 'GET', '/api/batch-jobs?dataset=rest_jobs&since=2999-01-01');
    const one = await call(p, 'GET', `/api/batch-jobs/${first.jobId}`);
    const partitions = await all(p, `/api/batch-jobs/${first.jobId}/partitions?limit=3`);
    const partition = await call(p, 'GET', `/api/batch-partitions/${first.jobId}-1`);
    const metrics = await all(p, `/api/performance-metrics?job=${first.jobId}&limit=500`);
    const parseMs = await all(p, `/api/performance-metrics?job=${first.jobId}&metric=parseMs`);
    const summary = await call(p, 'GET', `/api/performance-metrics/summary?job=${first.jobId}`);
    const refused = await call(p, 'DELETE', `/api/batch-jobs/${running.jobId}`);
    const deleted = await call(p, 'DELETE', `/api/batch-jobs/${second.jobId}`);
    const gone = await call(p, 'GET', `/api/batch-jobs/${second.jobId}`);

    // Assess
    expect(jobs.items.map((j) => j.jobId)).toEqual([running.jobId, second.jobId, first.jobId]);
    expect(jobs.pages).toBe(3);
    expect(jobs.items[2]).toMatchObject({ jobId: first.jobId, dataset: 'rest_jobs', status: 'completed_with_rejects', records: 1203, rejected: 3, key: 'uploads/rest_jobs/a.csv' });
    expect(splitting.body.items.map((j: { jobId: number }) => j.jobId)).toEqual([running.jobId]);
    expect(future.body).toEqual({ items: [], nextCursor: null });
    expect(one.body).toMatchObject({ jobId: first.jobId, recordsRead: first.recordsRead, recordsRejected: 3, partitionsTotal: first.partitionsTotal });
    expect(partitions.items.map((x) => x.idx)).toEqual(Array.from({ length: first.partitionsTotal! }, (_, i) => i));
    expect(partitions.items.every((x) => x.status === 'completed')).toBe(true);
    expect(partition.body).toMatchObject({ id: `${first.jobId}-1`, jobId: first.jobId, idx: 1, status: 'completed' });
    // Each completed partition stores one measurement of each of 8 counters and timings.
    expect(metrics.items).toHaveLength(first.partitionsTotal! * 8);
    expect(parseMs.items).toHaveLength(first.partitionsTotal!);
    expect(parseMs.items.every((m) => m.metric === 'parseMs' && m.jobId === first.jobId && m.component === 'processor')).toBe(true);
    expect(summary.body).toMatchObject({ job: first.jobId, jobs: 1, records: 1203, rejected: 3, partitions: { done: first.partitionsTotal, failed: 0, errorRate: 0 } });
    expect(summary.body.rejectRate).toBeCloseTo(3 / 1203, 12);
    expect(summary.body.partitionLatencyMs.p50).toBeGreaterThan(0);
    expect(summary.body.partitionLatencyMs.p99).toBeGreaterThanOrEqual(summary.body.partitionLatencyMs.p50);
    expect(refused).toEqual({ status: 409, body: { error: `job ${running.jobId} is still running: stop it first (POST /api/batch-jobs/${running.jobId}/stop)` } });
    expect(deleted).toEqual({ status: 200, body: { jobId: second.jobId, deleted: true } });
    expect(gone).toEqual({ status: 404, body: { error: `no job ${second.jobId}` } });
  });

  it('answers the CLI query over HTTP as csv-parse and arithmetic do over the file', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'rest_query', { records: 1500, seed: 9 });
    await uploadAndWait(p, 'uploads/rest_query/a.csv', file.bytes);

    // Act
    const byRegion = await call(p, 'GET', '/api/datasets/rest_query/query?granularity=1-day&by=region');
    const total = await call(p, 'GET', '/api/datasets/rest_query/query?granularity=1-week&metrics=amount');
    const badGranularity = await call(p, 'GET', '/api/datasets/rest_query/query?granularity=7-minute');
    const missing = await call(p, 'GET', '/api/datasets/rest_query/query');
    const unknown = await call(p, 'GET', '/api/datasets/nope/query?granularity=1-day');

    // Assess
    expect(differences(byRegion.body.items, expectedRollup(independent.good, { by: ['region'], granularityMs: 86_400_000, metrics: def.metrics }), ['region'])).toEqual([]);
    expect(differences(total.body.items, expectedRollup(independent.good, { by: [], granularityMs: 7 * 86_400_000, metrics: ['amount'] }), [])).toEqual([]);
    expect(badGranularity.status).toBe(400);
    expect(missing).toEqual({ status: 400, body: { error: 'granularity is required, e.g. 1-hour or 1-day' } });
    expect(unknown).toEqual({ status: 404, body: { error: 'no dataset named "nope"' } });
  });

  it('creates, replaces, refuses and deletes datasets', async () => {
    // Prepare
    const def = salesCsv('rest_ds');
    const { name: _name, ...body } = def;

    // Act
    const created = await call(p, 'PUT', '/api/datasets/rest_ds', body);
    const replaced = await call(p, 'PUT', '/api/datasets/rest_ds', { ...body, metrics: [...def.metrics, 'discount'] });
    const invalid = await call(p, 'PUT', '/api/datasets/rest_ds', { ...body, granularity: 'often' });
    const misnamed = await call(p, 'PUT', '/api/datasets/rest_ds', { ...body, name: 'other' });
    const malformed = await call(p, 'PUT', '/api/datasets/rest_ds', '{"format": ');
    const got = await call(p, 'GET', '/api/datasets/rest_ds');
    const listed = await call(p, 'GET', '/api/datasets');
    const { file } = await prepareCsv(p, 'rest_loaded', { records: 300, seed: 3 });
    await uploadAndWait(p, 'uploads/rest_loaded/a.csv', file.bytes);
    const change = await call(p, 'PUT', '/api/datasets/rest_loaded', { ...salesCsv('rest_loaded'), granularity: '1-day' });
    await putAnalyticsJob(p.db, parseAnalyticsJobDefinition({ name: 'rest-loaded-daily', enabled: true, schedule: 'EVERYDAY8AMET', dataset: 'rest_loaded', entity: 'region', granularity: '1-day', metrics: [{ metric: 'amount', aggregations: ['sum'] }] }));
    const inUse = await call(p, 'DELETE', '/api/datasets/rest_loaded');
    const run = await call(p, 'POST', '/api/analytics/jobs/rest-loaded-daily/run?at=2024-03-20T12:00:00Z');
    const runs = await call(p, 'GET', '/api/analytics/jobs/rest-loaded-daily/runs');
    const noJob = await call(p, 'POST', '/api/analytics/jobs/nope/run');
    // The processor compacts the job's partial rows after it (in the background): counted once that is done.
    const loadedRows = await waitFor(
      async () => {
        const [row] = await p.db.sql<{ partial: number; compacted: number }[]>`
          select (select count(*) from ${p.db.table('rollup_partials')} where dataset = 'rest_loaded')::int as partial,
                 (select count(*) from ${p.db.table('rollups')} where dataset = 'rest_loaded')::int as compacted`;
        return row.partial === 0 && row.compacted > 0 ? row.compacted : undefined;
      },
      30_000,
      'the partial rows of rest_loaded to be compacted',
    );
    const forced = await call(p, 'DELETE', '/api/datasets/rest_loaded?force=true');
    const readerGone = await call(p, 'GET', '/api/analytics/jobs/rest-loaded-daily');
    const deleted = await call(p, 'DELETE', '/api/datasets/rest_ds');
    const again = await call(p, 'DELETE', '/api/datasets/rest_ds');

    // Assess
    expect(created).toMatchObject({ status: 201, body: { created: true, newDataOnly: [], dataset: { name: 'rest_ds', granularity: '1-hour' } } });
    expect(replaced).toMatchObject({ status: 200, body: { created: false, newDataOnly: ['metric(s) "discount" added: stored buckets have no values for them'] } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatch(/^invalid dataset definition: granularity: /);
    expect(misnamed).toEqual({ status: 400, body: { error: 'body name "other" is not the path\'s "rest_ds"' } });
    expect(malformed).toEqual({ status: 400, body: { error: 'body is not valid JSON' } });
    expect(got.body.metrics).toEqual([...def.metrics, 'discount']);
    expect(listed.body.items.map((d: { name: string }) => d.name)).toContain('rest_ds');
    expect(change.status).toBe(409);
    expect(change.body.error).toContain('granularity 1-hour → 1-day');
    expect(inUse).toEqual({
      status: 409,
      body: { error: 'dataset "rest_loaded" is in use: analytics job(s) "rest-loaded-daily" read it (delete them with batchflow analytics delete <name>); or pass --force to delete them with it' },
    });
    expect(loadedRows).toBeGreaterThan(0);
    expect(forced).toEqual({ status: 200, body: { dataset: 'rest_loaded', ingestJobs: 1, aggregateRows: loadedRows, analyticsJobs: ['rest-loaded-daily'] } });
    expect(readerGone.status).toBe(404);
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body).toMatchObject({ job: 'rest-loaded-daily', trigger: 'manual', fireTime: '2024-03-20T12:00:00.000Z' });
    expect(runs.body.items).toHaveLength(1);
    expect(runs.body.items[0]).toMatchObject({ job: 'rest-loaded-daily', trigger: 'manual', status: 'succeeded' });
    expect(noJob).toEqual({ status: 404, body: { error: 'no analytics job named "nope"' } });
    expect(deleted).toEqual({ status: 200, body: { dataset: 'rest_ds', ingestJobs: 0, aggregateRows: 0, analyticsJobs: [] } });
    expect(again).toEqual({ status: 404, body: { error: 'no dataset named "rest_ds"' } });
  });

  it('names the parameter of a bad request, and answers unknown routes and ids with 404', async () => {
    // Act
    const answers = await Promise.all([
      call(p, 'GET', '/api/batch-jobs/abc'),
      call(p, 'GET', '/api/batch-jobs?status=done'),
      call(p, 'GET', '/api/batch-jobs?limit=5000'),
      call(p, 'GET', '/api/batch-jobs?since=yesterday'),
      call(p, 'GET', '/api/batch-partitions/7'),
      call(p, 'GET', '/api/batch-partitions/999999-0'),
      call(p, 'GET', '/api/batch-jobs/999999/partitions'),
      call(p, 'DELETE', '/api/datasets/rest_ds?force=maybe'),
      call(p, 'PATCH', '/api/datasets/rest_ds'),
      call(p, 'GET', '/api/nothing-here'),
    ]);

    // Assess
    expect(answers).toEqual([
      { status: 400, body: { error: 'jobId must be a positive integer, got "abc"' } },
      { status: 400, body: { error: 'status must be one of created, splitting, processing, completed, completed_with_rejects, completed_with_failures, failed, stopped, got "done"' } },
      { status: 400, body: { error: 'limit must be an integer from 1 to 1000, got "5000"' } },
      { status: 400, body: { error: expect.stringMatching(/^since must be an ISO 8601 date/) } },
      { status: 400, body: { error: 'partitionId must be <jobId>-<partition index>, e.g. 12-0, got "7"' } },
      { status: 404, body: { error: 'no partition 999999-0' } },
      { status: 404, body: { error: 'no job 999999' } },
      { status: 400, body: { error: 'force must be true or false, got "maybe"' } },
      { status: 404, body: { error: 'no route PATCH /api/datasets/rest_ds' } },
      { status: 404, body: { error: 'no route GET /api/nothing-here' } },
    ]);
  });
});
