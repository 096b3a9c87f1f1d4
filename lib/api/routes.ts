import { z } from 'zod';
import { JOB_NAME } from '../analytics/jobDefinition.ts';
import { getAnalyticsJob, pageAnalyticsJobs, pageResults } from '../store/analytics.ts';
import type { Db } from '../store/db.ts';
import { getIngestJob, pageIngestJobs } from '../store/ingestJobs.ts';
import { pageRejects } from '../store/rejects.ts';
import { pageTuningHistory } from '../store/performance.ts';
import { resultJson, summarize } from '../views.ts';
import { RecoveryRefused, restartIngestJob, retryPartitions, stopIngestJob, type RecoveryContext } from '../recovery/recovery.ts';
import { cursorParam, cursorParts } from './cursor.ts';
import { ApiError, instant, jobId, limit, MAX_LIMIT, pageJson, parse, partitionId, shown, type ApiRequest, type ApiResponse } from './params.ts';

export { ApiError, MAX_LIMIT, type ApiRequest, type ApiResponse };

/** A GET route. */
export interface ApiRoute {
  /** In http-router syntax: `/jobs/{jobId}`. */
  readonly path: string;
  handle(db: Db, request: ApiRequest): Promise<ApiResponse>;
}

/**
 * The read-only HTTP API's routes, independent of Lambda and API Gateway: each takes the database
 * and a request's raw path parameters and query string, and answers a status and a JSON body.
 * Bodies are the CLI's `--json` shapes (lib/views.ts) where the CLI has one; dates are ISO 8601.
 * Every list route answers a page, `{ items, nextCursor }` (PageJson): `limit` items at most (each
 * route has a default, and MAX_LIMIT is the maximum: more is a 400, not a silent clamp), in keyset
 * order, and `?cursor=<nextCursor>` continues after the last one.
 */

function route<T>(path: string, params: z.ZodType<T>, answer: (db: Db, params: T) => Promise<unknown>): ApiRoute {
  return {
    path,
    async handle(db, request) {
      try {
        return { status: 200, body: await answer(db, parse(params, request)) };
      } catch (err) {
        if (err instanceof ApiError) return { status: err.status, body: { error: err.message } };
        throw err;
      }
    },
  };
}

const noPath = z.object({});

const same = <T>(item: T) => item;
const asIs = <K extends readonly unknown[]>(key: K) => key;
const { id, int32, text, instant: cursorInstant } = cursorParts;

export const apiRoutes = {
  /** Recent ingestion jobs, newest first, a page of `status --json` items; the cursor is the last job id. */
  listJobs: route('/jobs', z.object({ path: noPath, query: z.object({ limit: limit(20), cursor: cursorParam(z.tuple([id])) }) }), async (db, { query }) =>
    pageJson(await pageIngestJobs(db, { limit: query.limit, before: query.cursor?.[0] }), summarize, (next) => [next]),
  ),

  /** One ingestion job with every counter: `status <jobId> --json`. */
  getJob: route('/jobs/{jobId}', z.object({ path: z.object({ jobId }), query: z.object({}) }), async (db, { path }) => {
    const job = await getIngestJob(db, path.jobId);
    if (!job) throw new ApiError(404, `no job ${path.jobId}`);
    return job;
  }),

  /** A job's rejected records in file order: `rejects <jobId> --json`. */
  listRejects: route(
    '/jobs/{jobId}/rejects',
    z.object({ path: z.object({ jobId }), query: z.object({ limit: limit(100), cursor: cursorParam(z.tuple([int32, int32])) }) }),
    async (db, { path, query }) => {
      // An empty list would not tell a clean job from a mistyped id.
      if (!(await getIngestJob(db, path.jobId))) throw new ApiError(404, `no job ${path.jobId}`);
      return pageJson(await pageRejects(db, path.jobId, { limit: query.limit, after: query.cursor }), same, asIs);
    },
  ),

  /** Analytics job definitions and how far each has computed, by name: a page of `jobs list --json` items. */
  listAnalyticsJobs: route(
    '/analytics/jobs',
    z.object({ path: noPath, query: z.object({ limit: limit(100), cursor: cursorParam(z.tuple([z.string().regex(JOB_NAME)])) }) }),
    async (db, { query }) =>
      pageJson(await pageAnalyticsJobs(db, { limit: query.limit, after: query.cursor?.[0] }), ({ definition, lastWindowEnd }) => ({ definition, lastWindowEnd }), (next) => [next]),
  ),

  /** An analytics job's results, windows starting in [from, to): `results --json`. */
  listResults: route(
    '/analytics/jobs/{name}/results',
    z.object({
      path: z.object({ name: z.string() }),
      query: z
        .object({ from: instant(), to: instant(), limit: limit(MAX_LIMIT), cursor: cursorParam(z.tuple([cursorInstant, text, text, text])) })
        .superRefine(({ from, to }, ctx) => {
          if (from && to && from > to) {
            ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be after to (${to.toISOString()}), got ${from.toISOString()}` });
          }
        }),
    }),
    async (db, { path, query }) => {
      // Results of an unknown job would be an empty list, indistinguishable from no results yet.
      if (!(await getAnalyticsJob(db, path.name))) throw new ApiError(404, `no analytics job named ${shown(path.name)}`);
      const page = await pageResults(db, path.name, { from: query.from, to: query.to, limit: query.limit, after: query.cursor });
      return pageJson(page, resultJson, ([start, ...rest]) => [start.toISOString(), ...rest]);
    },
  ),

  /** The tuner's applied changes, newest first, with their evidence and measured effect. */
  tuningHistory: route(
    '/tuning/history',
    z.object({ path: noPath, query: z.object({ limit: limit(50), cursor: cursorParam(z.tuple([id, id])) }) }),
    async (db, { query }) => pageJson(await pageTuningHistory(db, { limit: query.limit, before: query.cursor }), same, asIs),
  ),
} satisfies Record<string, ApiRoute>;

/** A POST route: a recovery step (lib/recovery), with the partition queue it re-sends to. */
export interface ApiAction {
  readonly path: string;
  handle(ctx: RecoveryContext, request: ApiRequest): Promise<ApiResponse>;
}

function action<T>(path: string, params: z.ZodType<T>, act: (ctx: RecoveryContext, params: T) => Promise<unknown>): ApiAction {
  return {
    path,
    async handle(ctx, request) {
      try {
        return { status: 200, body: await act(ctx, parse(params, request)) };
      } catch (err) {
        if (err instanceof ApiError) return { status: err.status, body: { error: err.message } };
        // Unknown id: 404; a state that does not allow it (stop a completed job, retry a completed partition): 409.
        if (err instanceof RecoveryRefused) return { status: err.refused === 'not-found' ? 404 : 409, body: { error: err.message } };
        throw err;
      }
    },
  };
}

const recovered = ({ job, resent }: { job: Parameters<typeof summarize>[0]; resent: number }) => ({ ...summarize(job), resent });

export const apiActions = {
  /** `batchflow stop <jobId>`: the job ends stopped; 409 unless it is splitting or processing. */
  stopJob: action('/api/batch-jobs/{jobId}/stop', z.object({ path: z.object({ jobId }), query: z.object({}) }), async (ctx, { path }) =>
    summarize(await stopIngestJob(ctx.db, path.jobId)),
  ),
  /** `batchflow restart <jobId>`: re-runs a failed, stopped or completed_with_failures job's unfinished partitions. */
  restartJob: action('/api/batch-jobs/{jobId}/restart', z.object({ path: z.object({ jobId }), query: z.object({}) }), async (ctx, { path }) =>
    recovered(await restartIngestJob(ctx, path.jobId)),
  ),
  /** `batchflow retry <jobId> --partition <idx>`: re-sends one failed partition; 409 unless it is failed. */
  retryPartition: action('/api/batch-partitions/{partitionId}/retry', z.object({ path: z.object({ partitionId }), query: z.object({}) }), async (ctx, { path }) =>
    recovered(await retryPartitions(ctx, path.partitionId.jobId, path.partitionId.idx)),
  ),
} satisfies Record<string, ApiAction>;
