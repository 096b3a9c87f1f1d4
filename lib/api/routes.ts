import { z } from 'zod';
import { JOB_NAME } from '../analytics/jobDefinition.ts';
import { BatchflowError } from '../errors.ts';
import { getAnalyticsJob, pageAnalyticsJobs, pageResults } from '../store/analytics.ts';
import type { Db } from '../store/db.ts';
import { getIngestJob, pageIngestJobs } from '../store/ingestJobs.ts';
import type { KeysetPage } from '../store/paging.ts';
import { pageRejects } from '../store/rejects.ts';
import { pageTuningHistory } from '../store/performance.ts';
import { resultJson, summarize, type PageJson } from '../views.ts';
import { RecoveryRefused, restartIngestJob, retryPartitions, stopIngestJob, type RecoveryContext } from '../recovery/recovery.ts';
import { cursorParam, cursorParts, encodeCursor } from './cursor.ts';

/**
 * The read-only HTTP API's routes, independent of Lambda and API Gateway: each takes the database
 * and a request's raw path parameters and query string, and answers a status and a JSON body.
 * Bodies are the CLI's `--json` shapes (lib/views.ts) where the CLI has one; dates are ISO 8601.
 * Every list route answers a page, `{ items, nextCursor }` (PageJson): `limit` items at most (each
 * route has a default, and MAX_LIMIT is the maximum: more is a 400, not a silent clamp), in keyset
 * order, and `?cursor=<nextCursor>` continues after the last one.
 */

/** The parts of a request a route reads, as the client sent them (unvalidated). */
export interface ApiRequest {
  readonly path: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
}

export interface ApiResponse {
  readonly status: 200 | 400 | 404 | 409;
  /** Serialised with JSON.stringify, which writes dates as ISO 8601. */
  readonly body: unknown;
}

/** A GET route. */
export interface ApiRoute {
  /** In http-router syntax: `/jobs/{jobId}`. */
  readonly path: string;
  handle(db: Db, request: ApiRequest): Promise<ApiResponse>;
}

/** A request the API answers with a client error; the message goes to the client as is. */
export class ApiError extends BatchflowError {
  override name = 'ApiError';
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

// Echoing a whole multi-kilobyte parameter back helps no one.
const shown = (raw: string) => JSON.stringify(raw.length > 100 ? `${raw.slice(0, 100)}...` : raw);

/** Plain decimal digits only: Number() would also take "1e3", "0x10" and " 7 ". */
function integer(min: number, max: number, fallback?: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined && fallback !== undefined) return fallback;
      const n = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
      const range = max === Number.MAX_SAFE_INTEGER ? `a positive integer` : `an integer from ${min} to ${max}`;
      ctx.issues.push({ code: 'custom', input: raw, message: `must be ${range}, got ${raw === undefined ? 'nothing' : shown(raw)}` });
      return z.NEVER;
    });
}

// A zone is required: without one the instant would depend on the server's time zone.
const isoInstant = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** An optional ISO 8601 date (UTC midnight) or date-time with Z or an offset. */
function instant() {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      if (isoInstant.safeParse(raw).success) return new Date(raw);
      ctx.issues.push({
        code: 'custom',
        input: raw,
        message: `must be an ISO 8601 date or date-time with a zone (2024-03-01 or 2024-03-01T00:00:00Z), got ${shown(raw)}`,
      });
      return z.NEVER;
    });
}

const jobId = integer(1, Number.MAX_SAFE_INTEGER);
/** The largest page any list route answers. */
export const MAX_LIMIT = 1000;
const limit = (fallback: number) => integer(1, MAX_LIMIT, fallback);

/** The first problem, led by the parameter's name (issues carry it as their path). */
function parse<T>(schema: z.ZodType<T>, request: ApiRequest): T {
  const result = schema.safeParse(request);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ApiError(400, `${String(issue.path.at(-1) ?? 'request')} ${issue.message}`);
}

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

/** A store page as the API answers it: items mapped for the wire, the next key as an opaque cursor. */
function pageJson<T, K, J>(page: KeysetPage<T, K>, toJson: (item: T) => J, keyJson: (key: K) => readonly unknown[]): PageJson<J> {
  return { items: page.items.map(toJson), nextCursor: page.next === null ? null : encodeCursor(keyJson(page.next)) };
}

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

/** A partition's id on the wire: `<jobId>-<idx>` (`batchflow status` prints it so). */
const partitionId = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const m = raw === undefined ? null : /^(\d{1,15})-(\d{1,9})$/.exec(raw);
    if (m && Number(m[1]) > 0) return { jobId: Number(m[1]), idx: Number(m[2]) };
    ctx.issues.push({ code: 'custom', input: raw, message: `must be <jobId>-<partition index>, e.g. 12-0, got ${raw === undefined ? 'nothing' : shown(raw)}` });
    return z.NEVER;
  });

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
