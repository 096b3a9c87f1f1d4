import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { parseAnalyticsJobDefinition, type AnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import { httpRoutes, jsonErrors, routeNotFound } from '../../../lib/api/http.ts';
import { apiRoutes, type ApiRequest, type ApiResponse } from '../../../lib/api/routes.ts';
import { putAnalyticsJob, replaceWindowResults } from '../../../lib/store/analytics.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { failIngestJob, getIngestJob, openIngestJob, type IngestJob } from '../../../lib/store/ingestJobs.ts';
import { completePartition, recordSplit } from '../../../lib/store/partitions.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { recordTuningChange, recordTuningEffectiveness } from '../../../lib/store/performance.ts';

/**
 * The HTTP API over a schema of its own, seeded through the store functions. Every expectation is
 * written from the seed (counts, line arithmetic, sort orders), not read back through the code
 * under test; the store is only asked for what the database itself decides (ids, timestamps).
 */

const databaseUrl = inject('databaseUrl');
const schema = `it_api_${randomBytes(3).toString('hex')}`;
const db = connectDb({ url: databaseUrl, schema, max: 2 });
const BUCKET = 'api-bucket';

/** A list route's body: a page of items and the cursor of the next page (null on the last). */
const page = (items: unknown[], nextCursor: unknown = null) => ({ items, nextCursor });
const more = expect.stringMatching(/^[A-Za-z0-9_-]+$/);

/** What JSON.stringify then JSON.parse make of a value: dates become ISO strings. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const call = (route: keyof typeof apiRoutes, path: ApiRequest['path'] = {}, query: ApiRequest['query'] = {}): Promise<ApiResponse> =>
  apiRoutes[route].handle(db, { path, query });

// ---------------------------------------------------------------------------------------------
// Seed

interface SeededReject {
  readonly partition: number;
  /** Line within its partition, 1-based. */
  readonly line: number;
  readonly offset: number;
  readonly reason: string;
  readonly raw: string;
}

const HEADER_LINES = 1;
/** Ingestion job "rejects": two partitions of 10 and 5 lines, all done. */
const PARTITION_LINES = [10, 5];
const REJECTS_A: SeededReject[] = [
  { partition: 0, line: 3, offset: 120, reason: 'field "amount": "12x" is not a number', raw: '2024-03-01T00:00:00Z,north,p1,12x,1' },
  { partition: 0, line: 7, offset: 300, reason: 'field "ts": "" is empty', raw: ',south,p2,1.00,2' },
  { partition: 1, line: 2, offset: 4100, reason: 'expected 5 fields, got 3', raw: 'a,b,c' },
];
/** Ingestion job "pending": partition 0 pending, partition 1 done with one reject (its line is not known yet). */
const REJECT_B: SeededReject = { partition: 1, line: 4, offset: 9000, reason: 'field "quantity": "many" is not a number', raw: '2024-03-02T00:00:00Z,east,p3,5.00,many' };

let jobA: IngestJob; // completed_with_rejects
let jobB: IngestJob; // processing
let jobC: IngestJob; // failed
let jobD: IngestJob; // completed, no partitions
const STATS_A = [
  { recordsRead: 9, recordsAggregated: 7, recordsRejected: 2 },
  { recordsRead: 5, recordsAggregated: 4, recordsRejected: 1 },
];

async function newJob(key: string): Promise<IngestJob> {
  const { job } = await openIngestJob(db, { dataset: 'sales', bucket: BUCKET, key, objectVersion: 'v1', objectSize: 5000, partitionBytes: 4096 });
  return job;
}

async function split(jobId: number, partitions: number): Promise<void> {
  await recordSplit(db, jobId, {
    format: 'csv',
    compression: 'none',
    columns: ['ts', 'region', 'product', 'amount', 'quantity'],
    headerLines: HEADER_LINES,
    dataStart: 28,
    splitMs: 3,
    partitions: Array.from({ length: partitions }, (_, idx) => ({ idx, sourceKey: 'k', rangeStart: idx * 4096, rangeEnd: (idx + 1) * 4096, exactRange: false })),
  });
}

async function complete(jobId: number, idx: number, lines: number, counts: { recordsRead: number; recordsAggregated: number; recordsRejected: number }, rejects: SeededReject[]) {
  await completePartition(db, { jobId, idx, dataset: 'sales', metrics: ['amount', 'quantity'] }, async () => ({
    rejects: rejects.map((r) => ({ line: r.line, offset: r.offset, reason: r.reason, raw: r.raw })),
    stats: { ...counts, lines, bytesRead: 4096, readMs: 1, parseMs: 2 },
    dataRange: null,
  }));
}

const DAY = 86_400_000;
const daily = parseAnalyticsJobDefinition({
  name: 'daily-sales',
  schedule: 'EVERYDAY8AMET',
  dataset: 'sales',
  entity: 'region',
  granularity: '1-day',
  enabled: false,
  metrics: [
    { metric: 'amount', aggregations: ['sum', 'avg'] },
    { metric: 'quantity', aggregations: ['count'] },
  ],
});
const hourly = parseAnalyticsJobDefinition({ name: 'hourly-quantity', schedule: 'EVERYHOUR', dataset: 'sales', granularity: '1-hour', metrics: [{ metric: 'quantity', aggregations: ['max'] }] });
const WINDOW_STARTS = ['2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z', '2024-03-03T00:00:00.000Z'];

/** The rows of one window, deliberately out of order (the API sorts them). */
function windowRows(w: number) {
  return [
    { entity: 'west', metric: 'quantity', aggregation: 'count', value: 10 + w },
    { entity: 'east', metric: 'amount', aggregation: 'sum', value: 100.25 * (w + 1) },
    { entity: 'west', metric: 'amount', aggregation: 'avg', value: null },
    { entity: 'east', metric: 'amount', aggregation: 'avg', value: 3.5 + w },
    { entity: 'West', metric: 'amount', aggregation: 'sum', value: -1 },
  ];
}

/** Results as the API must answer them: by window, then entity and metric by code point, then aggregation. */
function expectedResults(job: AnalyticsJobDefinition, windows: number[]) {
  const key = (r: { entity: string; metric: string; aggregation: string }) => [r.entity, r.metric, r.aggregation];
  const codePoint = (a: string[], b: string[]) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
  };
  return windows.flatMap((w) =>
    windowRows(w)
      .sort((a, b) => codePoint(key(a), key(b)))
      .map((r) => ({ job: job.name, windowStart: WINDOW_STARTS[w], windowEnd: new Date(Date.parse(WINDOW_STARTS[w]) + DAY).toISOString(), ...r })),
  );
}

const TUNING = [
  { parameter: 'batchSize', oldValue: 10, newValue: 20, reason: 'backlog grows', evidence: { backlog: [20, 40, 60] }, appliedAt: new Date('2024-03-01T10:00:00Z') },
  { parameter: 'partitionBytes', oldValue: 8_388_608, newValue: 16_777_216, reason: 'per-invocation overhead', evidence: { overheadShare: 0.4 }, appliedAt: new Date('2024-03-01T11:00:00Z') },
  { parameter: 'maxConcurrency', oldValue: null, newValue: 8, reason: 'lock waits', evidence: { lockWaitMs: 1200 }, appliedAt: new Date('2024-03-01T12:00:00Z') },
];
let tuningIds: number[];

beforeAll(async () => {
  await migrate(db);

  jobA = await newJob('uploads/sales/a.csv');
  await split(jobA.jobId, 2);
  for (const idx of [0, 1]) await complete(jobA.jobId, idx, PARTITION_LINES[idx], STATS_A[idx], REJECTS_A.filter((r) => r.partition === idx));
  jobB = await newJob('uploads/sales/b.csv');
  await split(jobB.jobId, 2);
  await complete(jobB.jobId, 1, 6, { recordsRead: 6, recordsAggregated: 5, recordsRejected: 1 }, [REJECT_B]);
  jobC = await newJob('uploads/sales/c.bin');
  await failIngestJob(db, jobC.jobId, 'not a CSV or NDJSON file');
  jobD = await newJob('uploads/sales/empty.csv');
  await split(jobD.jobId, 0);
  [jobA, jobB, jobC, jobD] = await Promise.all([jobA, jobB, jobC, jobD].map(async (j) => (await getIngestJob(db, j.jobId))!));

  await putAnalyticsJob(db, hourly);
  await putAnalyticsJob(db, daily);
  for (const [w, start] of WINDOW_STARTS.entries()) {
    await replaceWindowResults(db, daily.name, { start: new Date(start), end: new Date(Date.parse(start) + DAY) }, windowRows(w));
  }

  tuningIds = [];
  for (const change of TUNING) tuningIds.push(await recordTuningChange(db, change));
  await recordTuningEffectiveness(db, tuningIds[0], 0.35, 'backlog age fell 35%');
});

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
});

// ---------------------------------------------------------------------------------------------
// Expectations of the jobs

/** A finished job's summary, from its seeded counts and the times the database stamped. */
function finishedSummary(job: IngestJob, seeded: { status: string; records: number; rejected: number; partitions: number; reason?: string }) {
  const durationMs = job.finishedAt!.getTime() - job.createdAt.getTime();
  return {
    jobId: job.jobId,
    status: seeded.status,
    ...(seeded.reason ? { reason: seeded.reason } : {}),
    records: seeded.records,
    rejected: seeded.rejected,
    partitions: seeded.partitions,
    durationMs: Math.round(durationMs),
    recordsPerSecond: durationMs > 0 ? Math.round((seeded.records * 1000) / durationMs) : 0,
  };
}

const summaries = () => ({
  d: finishedSummary(jobD, { status: 'completed', records: 0, rejected: 0, partitions: 0 }),
  c: finishedSummary(jobC, { status: 'failed', records: 0, rejected: 0, partitions: 0, reason: 'not a CSV or NDJSON file' }),
  // Still running: measured up to the request, so only its shape is fixed.
  b: { jobId: jobB.jobId, status: 'processing', records: 6, rejected: 1, partitions: 2, durationMs: expect.any(Number), recordsPerSecond: expect.any(Number) },
  a: finishedSummary(jobA, { status: 'completed_with_rejects', records: 14, rejected: 3, partitions: 2 }),
});

/** A reject as the API answers it; `linesBefore` null while an earlier partition is pending. */
function locatedReject(job: IngestJob, r: SeededReject, linesBefore: number | null) {
  return {
    jobId: job.jobId,
    dataset: 'sales',
    bucket: BUCKET,
    key: job.key,
    line: linesBefore === null ? null : HEADER_LINES + linesBefore + r.line,
    byteOffset: r.offset,
    reason: r.reason,
    raw: r.raw,
  };
}
const linesBefore = (partition: number) => PARTITION_LINES.slice(0, partition).reduce((s, n) => s + n, 0);

// ---------------------------------------------------------------------------------------------
// Routes

describe('GET /jobs', () => {
  it('lists the jobs newest first as `status --json` summaries, 20 by default', async () => {
    // Act
    const all = await call('listJobs');
    const two = await call('listJobs', {}, { limit: '2' });

    // Assess
    const s = summaries();
    expect(all.status).toBe(200);
    expect(wire(all.body)).toEqual(page([s.d, s.c, s.b, s.a]));
    expect(s.a.durationMs).toBeGreaterThanOrEqual(0);
    expect(two).toEqual({ status: 200, body: page([s.d, s.c], more) });
  });

  it.each([
    ['abc', 'limit must be an integer from 1 to 1000, got "abc"'],
    ['0', 'limit must be an integer from 1 to 1000, got "0"'],
    ['1001', 'limit must be an integer from 1 to 1000, got "1001"'],
    ['-1', 'limit must be an integer from 1 to 1000, got "-1"'],
    ['2.5', 'limit must be an integer from 1 to 1000, got "2.5"'],
    ['1e2', 'limit must be an integer from 1 to 1000, got "1e2"'],
    ['', 'limit must be an integer from 1 to 1000, got ""'],
  ])('answers 400 to limit=%j', async (limit, error) => {
    expect(await call('listJobs', {}, { limit })).toEqual({ status: 400, body: { error } });
  });
});

describe('GET /jobs/{jobId}', () => {
  it('answers the job with every counter and ISO dates', async () => {
    // Act
    const res = await call('getJob', { jobId: String(jobA.jobId) });

    // Assess
    expect(res.status).toBe(200);
    const body = wire(res.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      jobId: jobA.jobId,
      dataset: 'sales',
      bucket: BUCKET,
      key: 'uploads/sales/a.csv',
      objectVersion: 'v1',
      objectSize: 5000,
      format: 'csv',
      compression: 'none',
      status: 'completed_with_rejects',
      reason: null,
      columns: ['ts', 'region', 'product', 'amount', 'quantity'],
      headerLines: HEADER_LINES,
      partitionsTotal: 2,
      partitionsDone: 2,
      recordsRead: 14,
      recordsAggregated: 11,
      recordsRejected: 3,
      bytesRead: 8192,
      createdAt: jobA.createdAt.toISOString(),
      finishedAt: jobA.finishedAt!.toISOString(),
    });
    expect(Object.keys(body).sort()).toEqual(Object.keys(jobA).sort());
  });

  it('answers 404 for a job that does not exist', async () => {
    const missing = jobD.jobId + 1000;
    expect(await call('getJob', { jobId: String(missing) })).toEqual({ status: 404, body: { error: `no job ${missing}` } });
  });

  it.each([
    ['abc', 'jobId must be a positive integer, got "abc"'],
    ['0', 'jobId must be a positive integer, got "0"'],
    ['-3', 'jobId must be a positive integer, got "-3"'],
    ['1.5', 'jobId must be a positive integer, got "1.5"'],
    ['99999999999999999999', 'jobId must be a positive integer, got "99999999999999999999"'],
  ])('answers 400 to jobId %j', async (jobId, error) => {
    expect(await call('getJob', { jobId })).toEqual({ status: 400, body: { error } });
  });
});

describe('GET /jobs/{jobId}/rejects', () => {
  it("answers the job's rejects in file order with their object, absolute line and reason", async () => {
    // Act
    const all = await call('listRejects', { jobId: String(jobA.jobId) });
    const first = await call('listRejects', { jobId: String(jobA.jobId) }, { limit: '1' });

    // Assess
    const expected = REJECTS_A.map((r) => locatedReject(jobA, r, linesBefore(r.partition)));
    expect(expected.map((r) => r.line)).toEqual([4, 8, 13]);
    expect(all).toEqual({ status: 200, body: page(expected) });
    expect(first).toEqual({ status: 200, body: page(expected.slice(0, 1), more) });
  });

  it('leaves the line unknown while an earlier partition is pending, and answers [] for a job without rejects', async () => {
    expect(await call('listRejects', { jobId: String(jobB.jobId) })).toEqual({ status: 200, body: page([locatedReject(jobB, REJECT_B, null)]) });
    expect(await call('listRejects', { jobId: String(jobC.jobId) })).toEqual({ status: 200, body: page([]) });
  });

  it('answers 404 for a job that does not exist, 400 for a bad jobId or limit', async () => {
    const missing = jobD.jobId + 1000;
    expect(await call('listRejects', { jobId: String(missing) })).toEqual({ status: 404, body: { error: `no job ${missing}` } });
    expect(await call('listRejects', { jobId: 'x1' })).toEqual({ status: 400, body: { error: 'jobId must be a positive integer, got "x1"' } });
    expect(await call('listRejects', { jobId: String(jobA.jobId) }, { limit: '0' })).toEqual({
      status: 400,
      body: { error: 'limit must be an integer from 1 to 1000, got "0"' },
    });
    expect(await call('listRejects', { jobId: String(jobA.jobId) }, { limit: '5000' })).toEqual({
      status: 400,
      body: { error: 'limit must be an integer from 1 to 1000, got "5000"' },
    });
  });
});

describe('GET /analytics/jobs', () => {
  it('lists the definitions by name with how far each has computed', async () => {
    expect(wire(await call('listAnalyticsJobs'))).toEqual({
      status: 200,
      body: page([
        { definition: wire(daily), lastWindowEnd: '2024-03-04T00:00:00.000Z' },
        { definition: wire(hourly), lastWindowEnd: null },
      ]),
    });
  });
});

describe('GET /analytics/jobs/{name}/results', () => {
  const results = (query: ApiRequest['query'], name = daily.name) => call('listResults', { name }, query);

  it('answers every window, sorted, without a range; the windows starting in [from, to) with one', async () => {
    expect(await results({})).toEqual({ status: 200, body: page(expectedResults(daily, [0, 1, 2])) });
    expect(await results({ from: '2024-03-02' })).toEqual({ status: 200, body: page(expectedResults(daily, [1, 2])) });
    expect(await results({ to: '2024-03-03T00:00:00Z' })).toEqual({ status: 200, body: page(expectedResults(daily, [0, 1])) });
    expect(await results({ from: '2024-03-02T00:00:00.000Z', to: '2024-03-02T00:00:00.001Z' })).toEqual({ status: 200, body: page(expectedResults(daily, [1])) });
    // 2024-03-01T23:00Z: the window starting on the 1st is before it.
    expect(await results({ from: '2024-03-02T00:00:00+01:00' })).toEqual({ status: 200, body: page(expectedResults(daily, [1, 2])) });
    expect(await results({ from: '2024-03-02', to: '2024-03-02' })).toEqual({ status: 200, body: page([]) });
    expect(await results({}, hourly.name)).toEqual({ status: 200, body: page([]) });
  });

  it('answers 404 for a job that does not exist', async () => {
    expect(await results({}, 'no-such-job')).toEqual({ status: 404, body: { error: 'no analytics job named "no-such-job"' } });
  });

  const dateRule = 'must be an ISO 8601 date or date-time with a zone (2024-03-01 or 2024-03-01T00:00:00Z)';
  it.each([
    [{ from: 'yesterday' }, `from ${dateRule}, got "yesterday"`],
    [{ to: '2024-02-30' }, `to ${dateRule}, got "2024-02-30"`],
    [{ from: '2024-03-01T10:00:00' }, `from ${dateRule}, got "2024-03-01T10:00:00"`],
    [{ from: '2024-03-01', to: '1709251200000' }, `to ${dateRule}, got "1709251200000"`],
    [{ from: '2024-03-03', to: '2024-03-02T23:59:59Z' }, 'from must not be after to (2024-03-02T23:59:59.000Z), got 2024-03-03T00:00:00.000Z'],
  ])('answers 400 to %j', async (query, error) => {
    expect(await results(query)).toEqual({ status: 400, body: { error } });
  });
});

describe('GET /tuning/history', () => {
  it('lists the applied changes newest first with evidence and measured effect, 50 by default', async () => {
    // Act
    const all = await call('tuningHistory');
    const two = await call('tuningHistory', {}, { limit: '2' });

    // Assess
    const expected = TUNING.map((t, i) => ({
      id: tuningIds[i],
      parameter: t.parameter,
      oldValue: t.oldValue,
      newValue: t.newValue,
      reason: t.reason,
      evidence: t.evidence,
      appliedAt: t.appliedAt.toISOString(),
      effectiveness: i === 0 ? 0.35 : null,
      effectivenessDetail: i === 0 ? 'backlog age fell 35%' : null,
    })).reverse();
    expect(wire(all)).toEqual({ status: 200, body: page(expected) });
    expect(wire(two)).toEqual({ status: 200, body: page(expected.slice(0, 2), more) });
  });

  it('answers 400 to a limit out of range', async () => {
    expect(await call('tuningHistory', {}, { limit: '1001' })).toEqual({ status: 400, body: { error: 'limit must be an integer from 1 to 1000, got "1001"' } });
  });
});

// ---------------------------------------------------------------------------------------------
// Through Lambda

const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'batchflow-test-api',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:batchflow-test-api',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  logGroupName: '/aws/lambda/batchflow-test-api',
  logStreamName: '2024/03/01/[$LATEST]abc',
  getRemainingTimeInMillis: () => 29_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
} satisfies Context;

/** An HTTP API payload 2.0 event of the `$default` route, as API Gateway sends it. */
function httpEvent(method: string, path: string, query?: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: { accept: 'application/json', host: 'abc123.execute-api.us-east-1.amazonaws.com' },
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '01/Mar/2024:10:00:00 +0000',
      timeEpoch: Date.UTC(2024, 2, 1, 10),
    },
    isBase64Encoded: false,
  };
}

/** The GET routes send nothing; recovery (POST) is tested against the real queue in test/integration/recovery. */
const noQueue = {
  send: () => Promise.reject(new Error('the GET routes do not send')),
};

/** Nor do they open jobs (POST /api/batch-jobs is tested through the local stack in jobs.test.ts). */
const noSubmissions = {
  objects: { head: () => Promise.reject(new Error('the GET routes do not read objects')) },
  ingest: { send: () => Promise.reject(new Error('the GET routes do not send notifications')) },
  uploadBucket: 'unused',
  partitionBytes: 8192,
  maxRecordBytes: 2048,
  schedules: undefined,
};

/** Built as functions/api.ts builds it, on a given database and logger. */
function apiHandler(database: Db, logger: Logger) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(logger))
    .use(jsonErrors(logger))
    .handler(httpRouterHandler({ routes: httpRoutes({ ...noSubmissions, db: database, queue: noQueue }), notFoundResponse: routeNotFound }));
}

async function invoke(handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>, event: APIGatewayProxyEventV2) {
  const res = await handler(event, context);
  expect(res.headers).toMatchObject({ 'content-type': 'application/json' });
  return { status: res.statusCode, body: JSON.parse(res.body!) as unknown };
}

describe('the Lambda handler', () => {
  const logger = new Logger({ serviceName: 'batchflow-api-test', logLevel: 'SILENT' });
  const handler = apiHandler(db, logger);

  it('routes each path to its route, with path parameters and the query string', async () => {
    const s = summaries();
    expect(await invoke(handler, httpEvent('GET', '/jobs', { limit: '2' }))).toEqual({ status: 200, body: page([s.d, s.c], more) });
    expect(await invoke(handler, httpEvent('GET', `/jobs/${jobA.jobId}`))).toEqual({ status: 200, body: wire(jobA) });
    expect(await invoke(handler, httpEvent('GET', `/jobs/${jobA.jobId}/rejects`, { limit: '2' }))).toEqual({
      status: 200,
      body: page(REJECTS_A.slice(0, 2).map((r) => locatedReject(jobA, r, linesBefore(r.partition))), more),
    });
    expect(await invoke(handler, httpEvent('GET', '/analytics/jobs'))).toMatchObject({ status: 200, body: page([{ definition: { name: daily.name } }, { definition: { name: hourly.name } }]) });
    expect(await invoke(handler, httpEvent('GET', `/analytics/jobs/${daily.name}/results`, { from: '2024-03-03' }))).toEqual({
      status: 200,
      body: page(expectedResults(daily, [2])),
    });
    expect(await invoke(handler, httpEvent('GET', '/tuning/history', { limit: '1' }))).toMatchObject({ status: 200, body: page([{ id: tuningIds[2] }], more) });
  });

  it('answers bad input with 400 and unknown or missing things with a JSON 404', async () => {
    expect(await invoke(handler, httpEvent('GET', '/jobs/abc'))).toEqual({ status: 400, body: { error: 'jobId must be a positive integer, got "abc"' } });
    expect(await invoke(handler, httpEvent('GET', '/jobs', { limit: '0' }))).toEqual({ status: 400, body: { error: 'limit must be an integer from 1 to 1000, got "0"' } });
    expect(await invoke(handler, httpEvent('GET', `/jobs/${jobD.jobId + 1000}`))).toEqual({ status: 404, body: { error: `no job ${jobD.jobId + 1000}` } });
    expect(await invoke(handler, httpEvent('GET', '/analytics/jobs/nope/results'))).toEqual({ status: 404, body: { error: 'no analytics job named "nope"' } });
    expect(await invoke(handler, httpEvent('GET', '/datasets'))).toEqual({ status: 404, body: { error: 'no route GET /datasets' } });
    expect(await invoke(handler, httpEvent('GET', `/jobs/${jobA.jobId}/partitions`))).toEqual({ status: 404, body: { error: `no route GET /jobs/${jobA.jobId}/partitions` } });
    expect(await invoke(handler, httpEvent('POST', '/jobs'))).toEqual({ status: 404, body: { error: 'no route POST /jobs' } });
  });

  it('answers an unexpected failure with a generic 500 and logs its cause', async () => {
    // Prepare: a schema that was never migrated, so every query fails in Postgres.
    const broken = connectDb({ url: databaseUrl, schema: `${schema}_missing`, max: 1 });
    const brokenLogger = new Logger({ serviceName: 'batchflow-api-test', logLevel: 'SILENT' });
    const logged = vi.spyOn(brokenLogger, 'error');

    try {
      // Act
      const res = await invoke(apiHandler(broken, brokenLogger), httpEvent('GET', '/jobs'));

      // Assess
      expect(res).toEqual({ status: 500, body: { error: 'internal error' } });
      expect(logged).toHaveBeenCalledTimes(1);
      const [, extra] = logged.mock.calls[0] as [string, { path: string; error: Error }];
      expect(extra.path).toBe('/jobs');
      expect(extra.error.message).toMatch(/relation .*batch_jobs.* does not exist/);
    } finally {
      await broken.close();
    }
  });

  it('is what functions/api.ts exports, configured from the environment at cold start', async () => {
    // Prepare
    vi.stubEnv('DATABASE_URL', databaseUrl);
    vi.stubEnv('DATABASE_SCHEMA', schema);
    vi.stubEnv('DATABASE_POOL_SIZE', '1');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    // Where retry and restart send, and POST /api/batch-jobs reads and sends; the GET routes here do neither.
    vi.stubEnv('PARTITION_QUEUE_URL', 'http://127.0.0.1:4566/123456789012/unused');
    vi.stubEnv('INGEST_QUEUE_URL', 'http://127.0.0.1:4566/123456789012/unused-ingest');
    vi.stubEnv('UPLOAD_BUCKET', 'unused');
    // What the tuning routes watch and move; building their clients calls nothing.
    vi.stubEnv('PROCESSOR_FUNCTION_NAME', 'unused-processor');
    vi.stubEnv('SPLITTER_FUNCTION_NAME', 'unused-splitter');
    vi.stubEnv('PARTITION_QUEUE_NAME', 'unused');
    vi.stubEnv('PARTITION_QUEUE_ARN', 'arn:aws:sqs:us-east-1:123456789012:unused');
    try {
      const entry = await import('../../../functions/api.ts');

      // Act
      const found = await invoke(entry.handler, httpEvent('GET', `/jobs/${jobB.jobId}/rejects`));
      const bad = await invoke(entry.handler, httpEvent('GET', `/analytics/jobs/${daily.name}/results`, { from: '2024-03-03', to: '2024-03-01' }));

      // Assess
      expect(found).toEqual({ status: 200, body: page([locatedReject(jobB, REJECT_B, null)]) });
      expect(bad).toEqual({ status: 400, body: { error: 'from must not be after to (2024-03-01T00:00:00.000Z), got 2024-03-03T00:00:00.000Z' } });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
