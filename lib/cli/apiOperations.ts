import { createSqsClient } from '../adapters/aws.ts';
import { redriveDeadLetters } from '../adapters/deadLetters.ts';
import { JobDefinitionError, parseAnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import type { DatasetDefinition } from '../datasets/definition.ts';
import type { RollupRow } from '../query/queryRollups.ts';
import type { StoredAnalyticsJob } from '../store/analytics.ts';
import type { IngestJob } from '../store/ingestJobs.ts';
import type { Partition } from '../store/partitions.ts';
import type { LocatedReject } from '../store/rejects.ts';
import type { IngestJobSummary, PageJson } from '../views.ts';
import { ApiAnswerError, stackApi, type Query, type StackApi, type StackApiOptions } from './apiClient.ts';
import { putObject } from './directOperations.ts';
import type { BatchflowOperations, FailedPartition, ResultJson, TuneOutcome } from './operations.ts';
import { CliError, type ApiTarget } from './target.ts';

/** What GET /api/stack answers (lib/api/stackRoute.ts). */
interface StackJson {
  readonly uploadBucket: string | null;
  readonly region: string | null;
  readonly queues?: { readonly ingest: string | null; readonly partitions: string | null };
}

type Json<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };
const date = (v: string | null) => (v === null ? null : new Date(v));

/** An ingestion job as the API sends it, with its instants as Dates again (describeIngestJob measures them). */
export function ingestJobOf(json: Json<IngestJob>): IngestJob {
  return {
    ...json,
    createdAt: new Date(json.createdAt),
    splitStartedAt: date(json.splitStartedAt),
    splitFinishedAt: date(json.splitFinishedAt),
    finishedAt: date(json.finishedAt),
  };
}

const name = encodeURIComponent;
const PAGE = 1000;

/**
 * The commands against a deployed stack through its HTTP API (lib/api): the same answers as
 * directOperations, from the routes whose bodies are the CLI's `--json` shapes. Uploads go to the
 * stack's bucket (GET /api/stack names it) with the user's own credentials.
 */
export function apiOperations(target: ApiTarget, options: StackApiOptions = {}): BatchflowOperations {
  const api = stackApi(target, options);
  const job = async (jobId: number) => ingestJobOf(await api.send<Json<IngestJob>>('GET', `/api/batch-jobs/${jobId}`));
  return {
    target,
    // The stack's migrate function runs on every deploy, before anything else reads the database.
    migrate: async () => ({ deployed: true }),

    async putDataset(def) {
      const answer = await api.send<{ created: boolean; newDataOnly: string[] }>('PUT', `/api/datasets/${name(def.name)}`, { body: def });
      return { created: answer.created, newDataOnly: answer.newDataOnly };
    },
    async deleteDataset(dataset, force) {
      // With force the API deletes the analytics jobs that read the dataset, and their schedules.
      const answer = await api.send<{ ingestJobs: number; aggregateRows: number; analyticsJobs: string[] }>('DELETE', `/api/datasets/${name(dataset)}`, { query: { force: force || undefined } });
      return { ingestJobs: answer.ingestJobs, aggregateRows: answer.aggregateRows, analyticsJobs: answer.analyticsJobs };
    },
    listDatasets: () => allPages<DatasetDefinition>(api, '/api/datasets'),

    async upload(file, dataset, key) {
      try {
        await api.send('GET', `/api/datasets/${name(dataset)}`);
      } catch (err) {
        if (err instanceof ApiAnswerError && err.status === 404) throw new CliError(`no dataset named "${dataset}": register it first with batchflow datasets put <file.json>`);
        throw err;
      }
      const stack = target.bucket ? undefined : await api.send<StackJson>('GET', '/api/stack');
      const bucket = target.bucket ?? stack?.uploadBucket;
      if (!bucket) throw new CliError('the API names no upload bucket: set BATCHFLOW_BUCKET (the stack output BucketName)');
      return putObject({ clients: { ...target.clients, ...(stack?.region ? { region: stack.region } : {}) } }, bucket, file, key);
    },
    async findJobOf(object) {
      const page = await api.send<PageJson<{ jobId: number }>>('GET', '/api/batch-jobs', { query: { key: object.key, limit: 1 } });
      return page.items[0] ? job(page.items[0].jobId) : undefined;
    },

    async query(dataset, q) {
      const query = { granularity: q.granularity, by: q.by.length > 0 ? q.by.join(',') : undefined, metrics: q.metrics?.join(','), from: q.from?.toISOString(), to: q.to?.toISOString() };
      return allPages<RollupRow>(api, `/api/datasets/${name(dataset)}/query`, query);
    },
    async listJobs(limit) {
      const page = await api.send<PageJson<IngestJobSummary & { dataset: string | null; key: string; partitionsDone: number; createdAt: string; finishedAt: string | null }>>(
        'GET',
        '/api/batch-jobs',
        { query: { limit } },
      );
      return page.items.map(({ dataset, key, partitionsDone, createdAt: _c, finishedAt: _f, ...summary }) => ({ summary, dataset, key, partitionsDone }));
    },
    async jobDetail(jobId) {
      const found = await job(jobId);
      return { job: found, failedPartitions: found.partitionsFailed > 0 ? (await failedPartitions(api, jobId)).slice(0, 20) : [] };
    },
    rejects: async (jobId, limit) => [...(await api.send<PageJson<LocatedReject>>('GET', `/api/batch-jobs/${jobId}/rejects`, { query: { limit } })).items],

    async putAnalyticsJob(input, source) {
      let definition;
      try {
        definition = parseAnalyticsJobDefinition(input);
      } catch (err) {
        if (err instanceof JobDefinitionError) throw new CliError(`${source}: ${err.message}`);
        throw err;
      }
      // The route checks it against its dataset, stores it and creates its schedule.
      await api.send('PUT', `/api/analytics/jobs/${name(definition.name)}`, { body: input });
      return `job "${definition.name}" saved: ${definition.schedule}${definition.timezone !== 'UTC' ? ` in ${definition.timezone}` : ''}, ${definition.granularity} windows`;
    },
    async listAnalyticsJobs() {
      const items = await allPages<Json<StoredAnalyticsJob>>(api, '/api/analytics/jobs');
      return items.map((j) => ({ definition: j.definition, lastWindowEnd: date(j.lastWindowEnd) }));
    },
    async deleteAnalyticsJob(job) {
      try {
        await api.send('DELETE', `/api/analytics/jobs/${name(job)}`);
        return true;
      } catch (err) {
        if (err instanceof ApiAnswerError && err.status === 404 && err.message.includes('no analytics job')) return false;
        throw err;
      }
    },
    async runAnalyticsJob(job, at) {
      const run = await api.send<{ windows: { start: string; end: string }[]; rows: ResultJson[]; durationMs: number }>('POST', `/api/analytics/jobs/${name(job)}/run`, {
        query: { at: at?.toISOString() },
      });
      return { windows: run.windows.map((w) => ({ start: new Date(w.start), end: new Date(w.end) })), rows: run.rows, durationMs: run.durationMs };
    },
    results: (job, range) => allPages<ResultJson>(api, `/api/analytics/jobs/${name(job)}/results`, { from: range.from?.toISOString(), to: range.to?.toISOString() }),

    async tune(apply) {
      const answer = apply ? await api.send<unknown>('POST', '/api/tuning/apply') : await api.send<unknown>('GET', '/api/tuning/recommendations');
      return tuneOutcomeOf(answer, apply);
    },

    async stop(jobId) {
      await api.send('POST', `/api/batch-jobs/${jobId}/stop`);
      return job(jobId);
    },
    async restart(jobId) {
      const { resent } = await api.send<{ resent: number }>('POST', `/api/batch-jobs/${jobId}/restart`);
      return { job: await job(jobId), resent };
    },
    async retry(jobId, partition) {
      // The API retries one partition per request: all of a job's failed ones are each of them.
      const idxs = partition !== undefined ? [partition] : (await failedPartitions(api, jobId)).map((p) => p.idx);
      if (idxs.length === 0) {
        const found = await job(jobId);
        throw new CliError(found.status === 'stopped' ? `job ${jobId} is stopped: restart it (batchflow restart ${jobId}) to re-run its partitions` : `job ${jobId} has no failed partitions`);
      }
      let resent = 0;
      for (const idx of idxs) resent += (await api.send<{ resent: number }>('POST', `/api/batch-partitions/${jobId}-${idx}/retry`)).resent;
      return { job: await job(jobId), resent };
    },
    async redrive(queue) {
      // Moving dead letters is SQS's own API: the caller signs it, as uploads to S3; the API only names the queue.
      const stack = await api.send<StackJson>('GET', '/api/stack');
      const url = stack.queues?.[queue];
      if (!url) throw new CliError(`the API names no ${queue} queue (GET /api/stack): use --target database with BATCHFLOW_${queue === 'ingest' ? 'INGEST' : 'PARTITION'}_QUEUE_URL`);
      const sqs = createSqsClient({ ...target.clients, ...(stack.region ? { region: stack.region } : {}) });
      // A local endpoint (moto) has no StartMessageMoveTask: the same move is made from here.
      return redriveDeadLetters(sqs, url, { serverSide: target.clients.endpoint === undefined });
    },
  };
}

/** Every item of a list route, following nextCursor. */
async function allPages<T>(api: StackApi, path: string, query: Query = {}): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.send<PageJson<T>>('GET', path, { query: { ...query, ...(cursor ? { cursor } : {}) } });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

/** A job's failed partitions in index order (the partitions route has no status filter). */
async function failedPartitions(api: StackApi, jobId: number): Promise<FailedPartition[]> {
  const all = await allPages<Json<Partition>>(api, `/api/batch-jobs/${jobId}/partitions`, { limit: PAGE });
  return all.filter((p) => p.status === 'failed').map((p) => ({ idx: p.idx, attempts: p.attempts, error: p.error }));
}

/** `tune --json`'s recommendations array, or an object with the tuner run's parts. */
function tuneOutcomeOf(answer: unknown, apply: boolean): TuneOutcome {
  if (Array.isArray(answer)) return { recommendations: answer, bottlenecks: [], applied: apply ? answer : [] };
  const a = (answer ?? {}) as Partial<TuneOutcome>;
  return { recommendations: a.recommendations ?? [], bottlenecks: a.bottlenecks ?? [], applied: a.applied ?? [] };
}
