import { z } from 'zod';
import { JOB_NAME } from '../analytics/jobDefinition.ts';
import { JobRunError, runAnalyticsJob } from '../analytics/runAnalyticsJob.ts';
import { DatasetDefinitionError, parseDatasetDefinition } from '../datasets/definition.ts';
import { QueryError, queryRollups } from '../query/queryRollups.ts';
import type { RecoveryContext } from '../recovery/recovery.ts';
import { getAnalyticsJob, pageAnalyticsJobs, pageRuns } from '../store/analytics.ts';
import { DatasetChangeRefusedError, deleteDataset, getDataset, listDatasets, putDataset } from '../store/datasets.ts';
import { deleteIngestJob, getIngestJob, pageIngestJobs, type IngestJobStatus } from '../store/ingestJobs.ts';
import { getPartition, listPartitions } from '../store/partitions.ts';
import { pagePerformanceMetrics, summarizeIngestion } from '../store/performance.ts';
import { resultJson, summarize } from '../views.ts';
import type { ApiContext } from './context.ts';
import { cursorParam, cursorParts } from './cursor.ts';
import { ApiError, instant, integer, jobId, limit, pageJson, parse, partitionId, shown, type ApiRequest, type ApiResponse } from './params.ts';

/**
 * The REST API under /api, beside the older read-only routes (routes.ts): ingestion jobs and their
 * partitions, datasets (with the CLI's query), analytics jobs and their runs, and performance
 * metrics. Every route validates its input (a 400 naming the parameter), answers 404 for an unknown
 * id and 409 for a state that does not allow the change; bodies are the CLI's `--json` shapes.
 */

export type RestMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface RestRoute<C = RecoveryContext> {
  readonly method: RestMethod;
  /** In http-router syntax: `/api/batch-jobs/{jobId}`. */
  readonly path: string;
  handle(ctx: C, request: ApiRequest): Promise<ApiResponse>;
}

/** A route answering `answer(ctx, params)` for the params `params` accepts; its ApiError as a client error. */
export function rest<T, C = RecoveryContext>(method: RestMethod, path: string, params: z.ZodType<T>, answer: (ctx: C, params: T) => Promise<unknown>, status: 200 | 201 = 200): RestRoute<C> {
  return {
    method,
    path,
    async handle(ctx, request) {
      try {
        return { status, body: await answer(ctx, parse(params, request)) };
      } catch (err) {
        if (err instanceof ApiError) return { status: err.status, body: { error: err.message } };
        throw err;
      }
    },
  };
}

const STATUSES = ['created', 'splitting', 'processing', 'completed', 'completed_with_rejects', 'completed_with_failures', 'failed', 'stopped'] as const satisfies readonly IngestJobStatus[];
const datasetName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { error: (issue) => `must be a dataset name (a-z, 0-9, "_", "-"), got ${shown(String(issue.input))}` });
const analyticsName = z.string().regex(JOB_NAME, { error: (issue) => `must be an analytics job name, got ${shown(String(issue.input))}` });
const optionalText = z.string().min(1).max(200).optional();
const csv = z
  .string()
  .optional()
  .transform((raw) => (raw === undefined ? undefined : raw.split(',').map((s) => s.trim()).filter(Boolean)));
const flag = z
  .enum(['true', 'false'], { error: (issue) => `must be true or false, got ${shown(String(issue.input))}` })
  .optional()
  .transform((v) => v === 'true');
const none = z.object({});
const { id } = cursorParts;

async function existingJob(ctx: RecoveryContext, id: number) {
  const job = await getIngestJob(ctx.db, id);
  if (!job) throw new ApiError(404, `no job ${id}`);
  return job;
}

async function existingDataset(ctx: RecoveryContext, name: string) {
  const dataset = await getDataset(ctx.db, name);
  if (!dataset) throw new ApiError(404, `no dataset named ${shown(name)}`);
  return dataset;
}

export const restRoutes = {
  /** Ingestion jobs, newest first: `status --json` items; filters dataset, status, since (created at or after), key (the object's: `upload --wait`). */
  listJobs: rest(
    'GET',
    '/api/batch-jobs',
    z.object({
      path: none,
      query: z.object({
        dataset: datasetName.optional(),
        status: z.enum(STATUSES, { error: (issue) => `must be one of ${STATUSES.join(', ')}, got ${shown(String(issue.input))}` }).optional(),
        since: instant(),
        key: z.string().min(1).max(1024).optional(),
        limit: limit(20),
        cursor: cursorParam(z.tuple([id])),
      }),
    }),
    async (ctx, { query }) =>
      pageJson(
        await pageIngestJobs(ctx.db, { limit: query.limit, before: query.cursor?.[0], dataset: query.dataset, status: query.status, since: query.since, key: query.key }),
        (job) => ({ ...summarize(job), dataset: job.dataset, key: job.key, partitionsDone: job.partitionsDone, createdAt: job.createdAt, finishedAt: job.finishedAt }),
        (next) => [next],
      ),
  ),

  /** One ingestion job with every counter: `status <jobId> --json`. */
  getJob: rest('GET', '/api/batch-jobs/{jobId}', z.object({ path: z.object({ jobId }), query: none }), (ctx, { path }) => existingJob(ctx, path.jobId)),

  /** Deletes a finished job's record, partitions, rejects and metrics (its aggregates stay); 409 while it runs. */
  deleteJob: rest('DELETE', '/api/batch-jobs/{jobId}', z.object({ path: z.object({ jobId }), query: none }), async (ctx, { path }) => {
    const outcome = await deleteIngestJob(ctx.db, path.jobId);
    if (outcome === 'not-found') throw new ApiError(404, `no job ${path.jobId}`);
    if (outcome === 'running') throw new ApiError(409, `job ${path.jobId} is still running: stop it first (POST /api/batch-jobs/${path.jobId}/stop)`);
    return { jobId: path.jobId, deleted: true };
  }),

  /** A job's partitions in index order; the cursor is the last index. */
  listPartitions: rest(
    'GET',
    '/api/batch-jobs/{jobId}/partitions',
    z.object({ path: z.object({ jobId }), query: z.object({ limit: limit(100), cursor: cursorParam(z.tuple([cursorParts.int32])) }) }),
    async (ctx, { path, query }) => {
      await existingJob(ctx, path.jobId);
      const rows = await listPartitions(ctx.db, path.jobId, { limit: query.limit + 1, afterIdx: query.cursor?.[0] });
      const items = rows.slice(0, query.limit);
      return pageJson({ items, next: rows.length > query.limit ? items.at(-1)!.idx : null }, (p) => ({ id: `${path.jobId}-${p.idx}`, ...p }), (next) => [next]);
    },
  ),

  /** One partition, by `<jobId>-<idx>`. */
  getPartition: rest('GET', '/api/batch-partitions/{partitionId}', z.object({ path: z.object({ partitionId }), query: none }), async (ctx, { path }) => {
    const partition = await getPartition(ctx.db, path.partitionId.jobId, path.partitionId.idx);
    if (!partition) throw new ApiError(404, `no partition ${path.partitionId.jobId}-${path.partitionId.idx}`);
    return { id: `${path.partitionId.jobId}-${path.partitionId.idx}`, ...partition };
  }),

  /** Every dataset definition, by name: `datasets list --json`. */
  listDatasets: rest('GET', '/api/datasets', z.object({ path: none, query: none }), async (ctx) => ({ items: await listDatasets(ctx.db), nextCursor: null })),

  getDataset: rest('GET', '/api/datasets/{name}', z.object({ path: z.object({ name: datasetName }), query: none }), (ctx, { path }) => existingDataset(ctx, path.name)),

  /**
   * Creates or replaces a dataset from the JSON body (its `name` may be left out; if given it must
   * be the path's): 201 when created. 400 names each problem; 409 when data is loaded and the change
   * would break it (see definitionChange).
   */
  putDataset: {
    method: 'PUT',
    path: '/api/datasets/{name}',
    async handle(ctx, request) {
      try {
        const { path } = parse(z.object({ path: z.object({ name: datasetName }) }), request);
        const body = request.body;
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'body must be a JSON object: the dataset definition');
        const given = (body as { name?: unknown }).name;
        if (given !== undefined && given !== path.name) throw new ApiError(400, `body name ${shown(String(given))} is not the path's ${shown(path.name)}`);
        let def;
        try {
          def = parseDatasetDefinition({ ...body, name: path.name });
        } catch (err) {
          if (err instanceof DatasetDefinitionError) throw new ApiError(400, err.message);
          throw err;
        }
        const outcome = await putDataset(ctx.db, def);
        return { status: outcome.created ? 201 : 200, body: { dataset: def, created: outcome.created, newDataOnly: outcome.newDataOnly } };
      } catch (err) {
        if (err instanceof ApiError) return { status: err.status, body: { error: err.message } };
        if (err instanceof DatasetChangeRefusedError) return { status: 409, body: { error: err.message } };
        throw err;
      }
    },
  } satisfies RestRoute,

  /**
   * Deletes a dataset with everything loaded under it (see deleteDataset); 409 while one of its jobs
   * runs or an analytics job reads it, unless force=true: then those analytics jobs go with it,
   * their EventBridge schedules too (on AWS), as `batchflow datasets delete --force` does.
   */
  deleteDataset: rest(
    'DELETE',
    '/api/datasets/{name}',
    z.object({ path: z.object({ name: datasetName }), query: z.object({ force: flag }) }),
    async (ctx: ApiContext, { path, query }) => {
      const outcome = await deleteDataset(ctx.db, path.name, { force: query.force });
      if (outcome.refused) throw new ApiError(outcome.refused === 'not-found' ? 404 : 409, outcome.message);
      for (const job of outcome.analyticsJobs) await ctx.schedules?.remove(job);
      return { dataset: path.name, ingestJobs: outcome.ingestJobs, aggregateRows: outcome.aggregateRows, analyticsJobs: outcome.analyticsJobs };
    },
  ),

  /** `batchflow query`: aggregates by bucket from the rollup grouped exactly by `by`. */
  query: rest(
    'GET',
    '/api/datasets/{name}/query',
    z.object({
      path: z.object({ name: datasetName }),
      query: z
        .object({ granularity: z.string({ error: () => 'is required, e.g. 1-hour or 1-day' }).min(1), by: csv, metrics: csv, from: instant(), to: instant() })
        .superRefine(({ from, to }, ctx) => {
          if (from && to && from > to) ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be after to (${to.toISOString()}), got ${from.toISOString()}` });
        }),
    }),
    async (ctx, { path, query }) => {
      const dataset = await existingDataset(ctx, path.name);
      try {
        const rows = await queryRollups(ctx.db, dataset, { granularity: query.granularity, by: query.by ?? [], metrics: query.metrics, from: query.from, to: query.to });
        return { items: rows, nextCursor: null };
      } catch (err) {
        if (err instanceof QueryError) throw new ApiError(400, err.message);
        throw err;
      }
    },
  ),

  /** Analytics job definitions by name, with how far each has computed. */
  listAnalyticsJobs: rest(
    'GET',
    '/api/analytics/jobs',
    z.object({ path: none, query: z.object({ limit: limit(100), cursor: cursorParam(z.tuple([analyticsName])) }) }),
    async (ctx, { query }) =>
      pageJson(await pageAnalyticsJobs(ctx.db, { limit: query.limit, after: query.cursor?.[0] }), ({ definition, lastWindowEnd }) => ({ definition, lastWindowEnd }), (next) => [next]),
  ),

  /** An analytics job's runs, newest first: when, which windows, how many rows, how it ended. */
  listRuns: rest(
    'GET',
    '/api/analytics/jobs/{name}/runs',
    z.object({ path: z.object({ name: analyticsName }), query: z.object({ limit: limit(50), cursor: cursorParam(z.tuple([id])) }) }),
    async (ctx, { path, query }) => {
      if (!(await getAnalyticsJob(ctx.db, path.name))) throw new ApiError(404, `no analytics job named ${shown(path.name)}`);
      return pageJson(await pageRuns(ctx.db, path.name, { limit: query.limit, before: query.cursor?.[0] }), (r) => r, (next) => [next]);
    },
  ),

  /** `batchflow analytics run <name> --at`: runs the job as if its schedule fired at `at` (default now). */
  runAnalyticsJob: rest(
    'POST',
    '/api/analytics/jobs/{name}/run',
    z.object({ path: z.object({ name: analyticsName }), query: z.object({ at: instant() }) }),
    async (ctx, { path, query }) => {
      if (!(await getAnalyticsJob(ctx.db, path.name))) throw new ApiError(404, `no analytics job named ${shown(path.name)}`);
      try {
        const outcome = await runAnalyticsJob(ctx.db, path.name, query.at ?? new Date(), 'manual');
        return { ...outcome, rows: outcome.rows.map(resultJson) };
      } catch (err) {
        if (err instanceof JobRunError) throw new ApiError(409, err.message);
        throw err;
      }
    },
  ),

  /** Stored measurements, newest first; filters job, component, metric, from, to. */
  listPerformanceMetrics: rest(
    'GET',
    '/api/performance-metrics',
    z.object({
      path: none,
      query: z.object({
        job: integer(1, Number.MAX_SAFE_INTEGER).optional(),
        component: optionalText,
        metric: optionalText,
        from: instant(),
        to: instant(),
        limit: limit(100),
        cursor: cursorParam(z.tuple([id])),
      }),
    }),
    async (ctx, { query }) =>
      pageJson(
        await pagePerformanceMetrics(ctx.db, { limit: query.limit, before: query.cursor?.[0], jobId: query.job, component: query.component, metric: query.metric, from: query.from, to: query.to }),
        (m) => m,
        (next) => [next],
      ),
  ),

  /**
   * Throughput, partition latency p50/p95/p99, reject and error rates and time per stage, of one
   * job (`job=`) or of the jobs created in [from, to) (default: the last 24 hours).
   */
  performanceSummary: rest(
    'GET',
    '/api/performance-metrics/summary',
    z.object({ path: none, query: z.object({ job: integer(1, Number.MAX_SAFE_INTEGER).optional(), from: instant(), to: instant() }) }),
    async (ctx, { query }) => {
      if (query.job !== undefined) {
        await existingJob(ctx, query.job);
        return { job: query.job, ...(await summarizeIngestion(ctx.db, { jobId: query.job })) };
      }
      const to = query.to ?? new Date();
      const from = query.from ?? new Date(to.getTime() - 86_400_000);
      if (from > to) throw new ApiError(400, `from must not be after to (${to.toISOString()}), got ${from.toISOString()}`);
      return { from, to, ...(await summarizeIngestion(ctx.db, { from, to })) };
    },
  ),
} satisfies Record<string, RestRoute>;
