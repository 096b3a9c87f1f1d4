import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import { apiRoutes, MAX_LIMIT, type ApiRequest } from '../../../lib/api/routes.ts';
import { putAnalyticsJob, replaceWindowResults } from '../../../lib/store/analytics.ts';
import { connectDb } from '../../../lib/store/db.ts';
import { openIngestJob } from '../../../lib/store/ingestJobs.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { completePartition, recordSplit } from '../../../lib/store/partitions.ts';
import { recordTuningChange } from '../../../lib/store/performance.ts';

/**
 * Keyset paging of every list route, over a schema of its own: paging through more rows than a
 * page returns each row exactly once in order (compared with the seed sorted here, or a direct
 * SQL query), rows inserted while paging neither repeat nor hide rows, and limits and cursors are
 * validated.
 */

const databaseUrl = inject('databaseUrl');
const schema = `it_paging_${randomBytes(3).toString('hex')}`;
const db = connectDb({ url: databaseUrl, schema, max: 2 });

type RouteName = keyof typeof apiRoutes;
interface Page {
  items: Record<string, unknown>[];
  nextCursor: string | null;
}

const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

async function getPage(route: RouteName, path: ApiRequest['path'], query: ApiRequest['query']): Promise<Page> {
  const res = await apiRoutes[route].handle(db, { path, query });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return wire(res.body) as Page;
}

/**
 * Every item of a route, page by page with `limit`; `between` runs after each page (inserts). Also
 * checks every page but the last is full and the last has no cursor.
 */
async function pageThrough(route: RouteName, path: ApiRequest['path'], query: ApiRequest['query'], limit: number, between: (page: number) => Promise<void> = async () => {}) {
  const items: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 1000; n++) {
    const page = await getPage(route, path, { ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    if (page.nextCursor === null) return { items, pages: n + 1 };
    expect(page.items).toHaveLength(limit);
    cursor = page.nextCursor;
    await between(n);
  }
  throw new Error('paging did not end');
}

const BUCKET = 'paging-bucket';
let jobCount = 0;
async function newJob(): Promise<number> {
  const { job } = await openIngestJob(db, { dataset: 'sales', bucket: BUCKET, key: `uploads/sales/${++jobCount}.csv`, objectVersion: 'v1', objectSize: 10, partitionBytes: 10 });
  return job.jobId;
}

async function completeWithRejects(jobId: number, idx: number, offsets: readonly number[]) {
  await completePartition(db, { jobId, idx, dataset: 'sales', metrics: ['amount', 'quantity'] }, async () => ({
    rejects: offsets.map((offset, i) => ({ line: i + 1, offset, reason: `bad ${offset}`, raw: `raw ${offset}` })),
    stats: { recordsRead: offsets.length, recordsAggregated: 0, recordsRejected: offsets.length, lines: offsets.length, bytesRead: 10, readMs: 1, parseMs: 1 },
    dataRange: null,
  }));
}

const jobDefinition = (name: string) => parseAnalyticsJobDefinition({ name, schedule: 'EVERYHOUR', dataset: 'sales', granularity: '1-day', enabled: false, metrics: [{ metric: 'amount', aggregations: ['sum'] }] });

beforeAll(async () => {
  await migrate(db);
});

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
});

describe('GET /jobs paged', () => {
  it('returns every job exactly once, newest first, and jobs created while paging do not shift the pages', async () => {
    // Prepare
    for (let i = 0; i < 25; i++) await newJob();
    const before = (await db.sql`select job_id from ${db.table('batch_jobs')} order by job_id desc`).map((r) => r.job_id as number);

    // Act: three new jobs after each page; they are newer than the cursor, so on no later page.
    const { items, pages } = await pageThrough('listJobs', {}, {}, 7, async () => {
      for (let i = 0; i < 3; i++) await newJob();
    });

    // Assess
    expect(before).toHaveLength(25);
    expect(items.map((j) => j.jobId)).toEqual(before);
    expect(pages).toBe(4);
  });
});

describe('GET /jobs/{jobId}/rejects paged', () => {
  it('returns every reject exactly once in file order, including a partition merged while paging that sorts after the cursor', async () => {
    // Prepare: partitions 0 and 2 merged with 30 and 20 rejects; partition 1 merges after the first page.
    const jobId = await newJob();
    await recordSplit(db, jobId, {
      format: 'csv',
      compression: 'none',
      columns: ['ts'],
      headerLines: 1,
      dataStart: 3,
      splitMs: 1,
      partitions: [0, 1, 2].map((idx) => ({ idx, sourceKey: 'k', rangeStart: idx * 10_000, rangeEnd: (idx + 1) * 10_000, exactRange: false })),
    });
    const offsets = [0, 1, 2].map((idx, _, all) => Array.from({ length: [30, 10, 20][idx] }, (_, i) => idx * 10_000 + i * 7 + all.length));
    await completeWithRejects(jobId, 0, offsets[0]);
    await completeWithRejects(jobId, 2, offsets[2]);

    // Act
    const { items } = await pageThrough('listRejects', { jobId: String(jobId) }, {}, 8, async (page) => {
      if (page === 0) await completeWithRejects(jobId, 1, offsets[1]);
    });

    // Assess: file order is partition, then position in it (the seed's offsets grow that way).
    expect(items.map((r) => r.byteOffset)).toEqual(offsets.flat());
    expect(new Set(items.map((r) => r.byteOffset)).size).toBe(60);
  });
});

describe('GET /analytics/jobs paged', () => {
  it('returns every job once by name in code-point order; a job created behind the cursor is not returned, one ahead is', async () => {
    // Prepare
    const names = ['b-9', 'b_1', 'b1', 'a', 'a-b', 'a_b', 'a0', 'z', 'm', 'm-1', 'c', 'c2', 'c-2'];
    for (const name of names) await putAnalyticsJob(db, jobDefinition(name));

    // Act: after the first page (a, a-b, a0, a_b), "a1" sorts before the cursor and "zz" after it.
    const { items } = await pageThrough('listAnalyticsJobs', {}, {}, 4, async (page) => {
      if (page === 0) for (const name of ['a1', 'zz']) await putAnalyticsJob(db, jobDefinition(name));
    });

    // Assess
    const codePointOrder = [...names, 'zz'].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    expect(items.map((j) => (j.definition as { name: string }).name)).toEqual(codePointOrder);
    expect(items[0]).toEqual({ definition: wire(jobDefinition('a')), lastWindowEnd: null });
  });
});

describe('GET /analytics/jobs/{name}/results paged', () => {
  const ENTITIES = ['West', 'east', 'north', 'Éire', 'é', ''];
  const METRICS = ['amount', 'quantity'];
  const AGGREGATIONS = ['sum', 'avg'];
  const DAY = 86_400_000;
  const start = (w: number) => new Date(Date.UTC(2024, 2, 1) + w * DAY);

  /** Result rows in the API's order, by code point, built from the seed. */
  function expectedRows(job: string, windows: readonly number[]) {
    const rows = [];
    const sorted = (xs: readonly string[]) => [...xs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    for (const w of [...windows].sort((x, y) => x - y)) {
      for (const entity of sorted(ENTITIES)) {
        for (const metric of sorted(METRICS)) {
          for (const aggregation of sorted(AGGREGATIONS)) rows.push({ job, windowStart: start(w).toISOString(), windowEnd: start(w + 1).toISOString(), entity, metric, aggregation, value: w * 100 + ENTITIES.indexOf(entity) });
        }
      }
    }
    return rows;
  }

  async function writeWindow(job: string, w: number) {
    const rows = ENTITIES.flatMap((entity) => METRICS.flatMap((metric) => AGGREGATIONS.map((aggregation) => ({ entity, metric, aggregation, value: w * 100 + ENTITIES.indexOf(entity) }))));
    await replaceWindowResults(db, job, { start: start(w), end: start(w + 1) }, rows.reverse());
  }

  it('returns every row once in window, entity, metric, aggregation order; a window written while paging after the cursor is returned', async () => {
    // Prepare: windows 0, 1, 2 and 4 (24 rows each); window 3 is written after the first page.
    await putAnalyticsJob(db, jobDefinition('results-paged'));
    for (const w of [0, 1, 2, 4]) await writeWindow('results-paged', w);

    // Act
    const { items, pages } = await pageThrough('listResults', { name: 'results-paged' }, {}, 10, async (page) => {
      if (page === 0) await writeWindow('results-paged', 3);
    });
    const ranged = await pageThrough('listResults', { name: 'results-paged' }, { from: start(1).toISOString(), to: start(3).toISOString() }, 5);

    // Assess
    expect(items).toEqual(expectedRows('results-paged', [0, 1, 2, 3, 4]));
    expect(pages).toBe(12);
    expect(ranged.items).toEqual(expectedRows('results-paged', [1, 2]));
  });

  it(`answers at most ${MAX_LIMIT} rows by default, with a cursor to the rest`, async () => {
    // Prepare: 44 windows of 24 rows, 1,056 rows.
    await putAnalyticsJob(db, jobDefinition('results-big'));
    const windows = Array.from({ length: 44 }, (_, w) => w);
    for (const w of windows) await writeWindow('results-big', w);

    // Act
    const first = await getPage('listResults', { name: 'results-big' }, {});
    const rest = await getPage('listResults', { name: 'results-big' }, { cursor: first.nextCursor! });

    // Assess
    const expected = expectedRows('results-big', windows);
    expect(first.items).toEqual(expected.slice(0, MAX_LIMIT));
    expect(rest).toEqual({ items: expected.slice(MAX_LIMIT), nextCursor: null });
  });
});

describe('GET /tuning/history paged', () => {
  it('returns every change once, newest first, ties in applied_at by id, instants apart by a microsecond kept apart', async () => {
    // Prepare: twelve changes, four at one instant; two more a microsecond apart (set in SQL: a JS Date has no microseconds).
    for (let i = 0; i < 12; i++) {
      await recordTuningChange(db, { parameter: `p${i}`, oldValue: i, newValue: i + 1, reason: 'r', evidence: { i }, appliedAt: new Date(Date.UTC(2024, 2, 1, i < 4 ? 0 : i)) });
    }
    const micro = [await recordTuningChange(db, { parameter: 'm1', oldValue: 1, newValue: 2, reason: 'r', evidence: {}, appliedAt: new Date() })];
    micro.push(await recordTuningChange(db, { parameter: 'm2', oldValue: 1, newValue: 2, reason: 'r', evidence: {}, appliedAt: new Date() }));
    await db.sql`update ${db.table('tuning_history')} set applied_at = '2024-03-01T05:00:00.000002Z' where id = ${micro[0]}`;
    await db.sql`update ${db.table('tuning_history')} set applied_at = '2024-03-01T05:00:00.000001Z' where id = ${micro[1]}`;
    const expected = (await db.sql`select id from ${db.table('tuning_history')} order by applied_at desc, id desc`).map((r) => r.id as number);

    // Act
    const { items } = await pageThrough('tuningHistory', {}, {}, 3);

    // Assess
    expect(items.map((c) => c.id)).toEqual(expected);
    expect(expected).toHaveLength(14);
    // The microsecond pair: m1 (.000002) before m2 (.000001), though m2's id is higher.
    expect(expected.indexOf(micro[0])).toBe(expected.indexOf(micro[1]) - 1);
  });
});

describe('limits and cursors', () => {
  const routes: [RouteName, ApiRequest['path']][] = [
    ['listJobs', {}],
    ['listRejects', { jobId: '1' }],
    ['listAnalyticsJobs', {}],
    ['listResults', { name: 'results-paged' }],
    ['tuningHistory', {}],
  ];

  it.each(routes)(`%s refuses a limit above ${MAX_LIMIT} and accepts ${MAX_LIMIT}`, async (route, path) => {
    expect(await apiRoutes[route].handle(db, { path, query: { limit: String(MAX_LIMIT + 1) } })).toEqual({
      status: 400,
      body: { error: `limit must be an integer from 1 to ${MAX_LIMIT}, got "${MAX_LIMIT + 1}"` },
    });
    expect((await apiRoutes[route].handle(db, { path, query: { limit: String(MAX_LIMIT) } })).status).toBe(200);
  });

  it.each(routes)('%s answers 400 naming the cursor to a cursor it did not make', async (route, path) => {
    // Prepare: garbage, a truncated cursor, a cursor of another route's key, SQL in a cursor.
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const other = route === 'listResults' ? b64('[5]') : b64('["2024-03-01T00:00:00.000Z","a","b","c"]');
    const bad = ['%%%', b64('["2024-03-01T00:00:00.000Z","a"').slice(0, 10), other, b64(`["1; drop table ${schema}.batch_jobs"]`)];
    // Keys out of their column's range: an int index past 2^31 - 1, an id past 2^53.
    if (route === 'listRejects') bad.push(b64('[2147483648,0]'));
    if (route === 'listJobs') bad.push(b64('[9007199254740992]'));

    for (const cursor of bad) {
      // Act
      const res = await apiRoutes[route].handle(db, { path, query: { cursor } });

      // Assess
      expect(res, cursor).toEqual({ status: 400, body: { error: 'cursor is not a cursor this route returned as nextCursor' } });
    }
    const [{ n }] = await db.sql`select count(*)::int as n from ${db.table('batch_jobs')}`;
    expect(n).toBeGreaterThan(0);
  });
});
