import { z } from 'zod';
import { JOB_NAME, JobDefinitionError, parseAnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import { checkAnalyticsJob } from '../definitions/definitions.ts';
import { startJob, submitObject, SubmitRefused } from '../split/submitObject.ts';
import { deleteAnalyticsJob, getAnalyticsJob, putAnalyticsJob } from '../store/analytics.ts';
import { getDataset } from '../store/datasets.ts';
import { describeIngestJob } from '../store/ingestJobs.ts';
import { defaultBounds } from '../tune/controlLaw.ts';
import type { ApiContext } from './context.ts';
import { ApiError, jobId, parse, shown, type ApiRequest, type ApiResponse } from './params.ts';
import { apiRoutes } from './routes.ts';
import type { RestMethod } from './rest.ts';

/**
 * The REST routes that open, describe and start ingestion jobs (POST /api/batch-jobs and the
 * S3 notification path open the same job for the same object version), and create, read and
 * delete analytics jobs as `batchflow analytics put|delete` does, schedules included.
 */

/** A route that reaches the whole ApiContext (S3, the ingest queue, the schedules). */
export interface JobRoute {
  readonly method: RestMethod;
  readonly path: string;
  handle(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse>;
}

const STATUS_OF = { invalid: 400, 'not-found': 404, conflict: 409 } as const;

function jobRoute(method: RestMethod, path: string, answer: (ctx: ApiContext, request: ApiRequest) => Promise<ApiResponse>): JobRoute {
  return {
    method,
    path,
    async handle(ctx, request) {
      try {
        return await answer(ctx, request);
      } catch (err) {
        if (err instanceof ApiError) return { status: err.status, body: { error: err.message } };
        if (err instanceof SubmitRefused) return { status: STATUS_OF[err.refused], body: { error: err.message } };
        if (err instanceof JobDefinitionError) return { status: 400, body: { error: err.message } };
        throw err;
      }
    },
  };
}

const none = z.object({});
const body = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? `has unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : 'must be a JSON object') });
const text = (max: number) =>
  z
    .string({ error: 'must be a string or null' })
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !s.includes('\u0000'), 'must not hold a NUL character (U+0000)')
    .nullable()
    .optional();
const analyticsName = z.string().regex(JOB_NAME, { error: (issue) => `must be an analytics job name, got ${shown(String(issue.input))}` });

/**
 * A job's configuration: settings overriding its dataset's. partitionBytes must exceed two of the
 * splitter's longest records (a smaller size would be raised to that anyway: planByteRanges) and
 * stay within what the tuner itself would ever choose.
 */
function configuration(ctx: ApiContext) {
  const min = 2 * ctx.maxRecordBytes + 1;
  const max = defaultBounds.maxPartitionBytes;
  return body({
    maxRejectedPercent: z.number({ error: 'must be a number from 0 to 100' }).min(0, 'must be a number from 0 to 100').max(100, 'must be a number from 0 to 100').optional(),
    partitionBytes: z
      .number({ error: `must be an integer from ${min} to ${max}` })
      .int(`must be an integer from ${min} to ${max}`)
      .min(min, `must be an integer from ${min} to ${max} (more than twice the splitter's MAX_RECORD_BYTES)`)
      .max(max, `must be an integer from ${min} to ${max}`)
      .optional(),
  });
}

const storedAnalyticsJob = async (ctx: ApiContext, name: string) => {
  const job = await getAnalyticsJob(ctx.db, name);
  if (!job) throw new ApiError(404, `no analytics job named ${shown(name)}`);
  return job;
};

export const jobRoutes = {
  /**
   * Opens a job for an object already in the upload bucket (201), or answers the one its S3
   * notification or an earlier POST opened (200). `start` (default true) runs it through the
   * splitter; false leaves it `created` for PUT (configuration) and POST .../start.
   */
  createJob: jobRoute('POST', '/api/batch-jobs', async (ctx, request) => {
    const { body: b } = parse(
      z.object({
        path: none,
        query: none,
        body: body({
          bucket: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
          key: z.string({ error: 'is required: the object key, uploads/<dataset>/<file>' }).min(1, 'must not be empty'),
          start: z.boolean({ error: 'must be true or false' }).default(true),
        }),
      }),
      request,
    );
    const { job, created } = await submitObject(ctx, { ...(b.bucket === undefined ? {} : { bucket: b.bucket }), key: b.key, start: b.start });
    return { status: created ? 201 : 200, body: job };
  }),

  /** Names and describes a job (any time) and sets its configuration (only while `created`: 409 after). */
  updateJob: jobRoute('PUT', '/api/batch-jobs/{jobId}', async (ctx, request) => {
    const { path, body: change } = parse(
      z.object({ path: z.object({ jobId }), query: none, body: body({ name: text(200), description: text(2000), configuration: configuration(ctx).optional() }) }),
      request,
    );
    const outcome = await describeIngestJob(ctx.db, path.jobId, change);
    if (!outcome) throw new ApiError(404, `no job ${path.jobId}`);
    if (outcome.conflict) {
      throw new ApiError(409, `job ${path.jobId} is ${outcome.job.status}: its configuration can change only while it is created (it was split with the settings it had)`);
    }
    return { status: 200, body: outcome.job };
  }),

  /** Starts a `created` job: its notification goes to the ingest queue and it is `splitting`; 409 unless `created`. */
  startJob: jobRoute('POST', '/api/batch-jobs/{jobId}/start', async (ctx, request) => {
    const { path } = parse(z.object({ path: z.object({ jobId }), query: none }), request);
    return { status: 200, body: await startJob(ctx, path.jobId) };
  }),

  /** A job's rejected records: the older /jobs/{jobId}/rejects under /api. */
  listRejects: jobRoute('GET', '/api/batch-jobs/{jobId}/rejects', (ctx, request) => apiRoutes.listRejects.handle(ctx.db, request)),

  /** An analytics job's definition and how far it has computed. */
  getAnalyticsJob: jobRoute('GET', '/api/analytics/jobs/{name}', async (ctx, request) => {
    const { path } = parse(z.object({ path: z.object({ name: analyticsName }), query: none }), request);
    return { status: 200, body: await storedAnalyticsJob(ctx, path.name) };
  }),

  /**
   * `batchflow analytics put`: creates (201) or replaces (200) the job from the JSON body (its
   * `name` may be left out; if given it must be the path's), checked against its dataset, and puts
   * its schedule on AWS.
   */
  putAnalyticsJob: jobRoute('PUT', '/api/analytics/jobs/{name}', async (ctx, request) => {
    const { path } = parse(z.object({ path: z.object({ name: analyticsName }) }), request);
    const given = request.body;
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new ApiError(400, 'body must be a JSON object: the analytics job definition');
    const named = (given as { name?: unknown }).name;
    if (named !== undefined && named !== path.name) throw new ApiError(400, `body name ${shown(String(named))} is not the path's ${shown(path.name)}`);
    const job = parseAnalyticsJobDefinition({ ...given, name: path.name });
    checkAnalyticsJob(job, await getDataset(ctx.db, job.dataset));
    const { created } = await putAnalyticsJob(ctx.db, job);
    await ctx.schedules?.put(job);
    return { status: created ? 201 : 200, body: await storedAnalyticsJob(ctx, job.name) };
  }),

  /** `batchflow analytics delete`: the job with its windows, results, runs and schedule. */
  deleteAnalyticsJob: jobRoute('DELETE', '/api/analytics/jobs/{name}', async (ctx, request) => {
    const { path } = parse(z.object({ path: z.object({ name: analyticsName }), query: none }), request);
    await storedAnalyticsJob(ctx, path.name);
    // Schedule first, as the CLI does: a schedule left without its job would fire into a 'no such job' failure.
    await ctx.schedules?.remove(path.name);
    if (!(await deleteAnalyticsJob(ctx.db, path.name))) throw new ApiError(404, `no analytics job named ${shown(path.name)}`);
    return { status: 200, body: { name: path.name, deleted: true } };
  }),

  /** An analytics job's results: the older /analytics/jobs/{name}/results under /api. */
  listResults: jobRoute('GET', '/api/analytics/jobs/{name}/results', (ctx, request) => apiRoutes.listResults.handle(ctx.db, request)),
} satisfies Record<string, JobRoute>;
