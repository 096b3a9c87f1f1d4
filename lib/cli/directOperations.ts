import { createReadStream, statSync } from 'node:fs';
import { Upload } from '@aws-sdk/lib-storage';
import { createCloudWatchClient, createLambdaClient, createS3Client, createSchedulerClient, createSqsClient } from '../adapters/aws.ts';
import { redriveDeadLetters } from '../adapters/deadLetters.ts';
import { schedulerJobSchedules } from '../adapters/jobSchedules.ts';
import { readObservation } from '../adapters/metricsReader.ts';
import { sqsPartitionQueue } from '../adapters/partitionQueue.ts';
import { createProcessorSettings } from '../adapters/processorSettings.ts';
import { JobDefinitionError, parseAnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import type { AnalyticsJobSchedules } from '../analytics/ports.ts';
import { runAnalyticsJob } from '../analytics/runAnalyticsJob.ts';
import { checkAnalyticsJob } from '../definitions/definitions.ts';
import { queryRollups } from '../query/queryRollups.ts';
import { RecoveryRefused, restartIngestJob, retryPartitions, stopIngestJob } from '../recovery/recovery.ts';
import { deleteAnalyticsJob, listAnalyticsJobs, listResults, putAnalyticsJob } from '../store/analytics.ts';
import { deleteDataset, getDataset, listDatasets, putDataset } from '../store/datasets.ts';
import type { Db } from '../store/db.ts';
import { migrate } from '../store/migrate.ts';
import { findIngestJobByObject, getIngestJob, listIngestJobs } from '../store/ingestJobs.ts';
import { listPartitions } from '../store/partitions.ts';
import { listRejects } from '../store/rejects.ts';
import { topology } from '../topology.ts';
import { runTuner } from '../tune/runTuner.ts';
import { resultJson, summarize } from '../views.ts';
import type { BatchflowOperations } from './operations.ts';
import { CliError, type DirectTarget } from './target.ts';

/** A deployed stack's schedules (EventBridge Scheduler); none locally, where the runtime fires jobs. */
export function schedulesOf(target: DirectTarget): AnalyticsJobSchedules | undefined {
  if (!target.schedules) return undefined;
  return schedulerJobSchedules(createSchedulerClient(target.clients), target.schedules);
}

function queueUrl(target: DirectTarget, queue: 'ingest' | 'partitions'): string {
  const url = target.queues[queue];
  if (!url) throw new CliError(`set BATCHFLOW_${queue === 'ingest' ? 'INGEST' : 'PARTITION'}_QUEUE_URL (a stack output) to reach the ${queue} queue`);
  return url;
}

/** A refused step is the user's to fix: its message, no stack trace. */
async function refusedAsCliError<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof RecoveryRefused) throw new CliError(err.message);
    throw err;
  }
}

/**
 * The commands against a stack the CLI reaches itself: its Postgres (`db`) and its AWS resources
 * (the target's endpoint, bucket and queues) — the local stack, or a deployed one from inside its VPC.
 */
export function directOperations(db: Db, target: DirectTarget): BatchflowOperations {
  const partitionQueue = () => sqsPartitionQueue(createSqsClient(target.clients), queueUrl(target, 'partitions'));
  return {
    target,
    migrate: async () => ({ applied: await migrate(db) }),

    putDataset: (def) => putDataset(db, def),
    async deleteDataset(name, force) {
      const outcome = await deleteDataset(db, name, { force });
      if (outcome.refused) throw new CliError(outcome.message);
      for (const job of outcome.analyticsJobs) await schedulesOf(target)?.remove(job);
      return outcome;
    },
    listDatasets: () => listDatasets(db),

    async upload(file, dataset, key) {
      if (!target.bucket) throw new CliError('no bucket: set BATCHFLOW_BUCKET (the stack output BucketName)');
      if (!(await getDataset(db, dataset))) throw new CliError(`no dataset named "${dataset}": register it first with batchflow datasets put <file.json>`);
      return putObject(target, target.bucket, file, key);
    },
    findJobOf: (object) => findIngestJobByObject(db, object.bucket, object.key),

    async query(name, q) {
      const dataset = await getDataset(db, name);
      if (!dataset) throw new CliError(`no dataset named "${name}"`);
      return queryRollups(db, dataset, q);
    },
    listJobs: async (limit) => (await listIngestJobs(db, limit)).map((j) => ({ summary: summarize(j), dataset: j.dataset, key: j.key, partitionsDone: j.partitionsDone })),
    async jobDetail(jobId) {
      const job = await getIngestJob(db, jobId);
      if (!job) throw new CliError(`no job ${jobId}`);
      const failed = job.partitionsFailed > 0 ? await listPartitions(db, job.jobId, { limit: 20, status: 'failed' }) : [];
      return { job, failedPartitions: failed.map((p) => ({ idx: p.idx, attempts: p.attempts, error: p.error })) };
    },
    rejects: (jobId, limit) => listRejects(db, jobId, limit),

    async putAnalyticsJob(input, source) {
      try {
        const job = parseAnalyticsJobDefinition(input);
        const { schedule, plan } = checkAnalyticsJob(job, await getDataset(db, job.dataset));
        await putAnalyticsJob(db, job);
        await schedulesOf(target)?.put(job);
        return `job "${job.name}" saved: ${job.schedule} = ${schedule.cron} in ${schedule.timezone}, ${job.granularity} windows, answered from rollup [${plan.rollup.join(',')}]`;
      } catch (err) {
        if (err instanceof JobDefinitionError) throw new CliError(`${source}: ${err.message}`);
        throw err;
      }
    },
    listAnalyticsJobs: () => listAnalyticsJobs(db),
    async deleteAnalyticsJob(name) {
      await schedulesOf(target)?.remove(name);
      return deleteAnalyticsJob(db, name);
    },
    async runAnalyticsJob(name, at) {
      const outcome = await runAnalyticsJob(db, name, at ?? new Date(), 'manual');
      return { windows: outcome.windows, rows: outcome.rows.map(resultJson), durationMs: outcome.durationMs };
    },
    results: async (job, range) => (await listResults(db, job, range)).map(resultJson),

    tune: (apply) => tune(db, target, apply),

    stop: (jobId) => refusedAsCliError(() => stopIngestJob(db, jobId)),
    restart: (jobId) => refusedAsCliError(() => restartIngestJob({ db, queue: partitionQueue() }, jobId)),
    retry: (jobId, partition) => refusedAsCliError(() => retryPartitions({ db, queue: partitionQueue() }, jobId, partition)),
    async redrive(queue) {
      const sqs = createSqsClient(target.clients);
      // A local endpoint (moto) has no StartMessageMoveTask: the same move is made from here.
      return redriveDeadLetters(sqs, queueUrl(target, queue), { serverSide: target.endpoint === undefined });
    },
  };
}

/** Puts a file in a bucket with the target's AWS clients: multipart above 64 MiB (parts of 16 MiB), a single PUT below. */
export async function putObject(target: { readonly clients: DirectTarget['clients'] }, bucket: string, file: string, key: string): Promise<{ bucket: string; key: string }> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new CliError(`cannot read ${file}`);
  }
  await new Upload({
    client: createS3Client(target.clients),
    params: { Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: size },
    partSize: 16 * 1024 * 1024,
    queueSize: 4,
  }).done();
  return { bucket, key };
}

/** One tuner pass from the CLI, against the local stack or a deployed one. */
async function tune(db: Db, target: DirectTarget, apply: boolean) {
  const names = target.tuner;
  if (!names) {
    throw new CliError('set BATCHFLOW_PROCESSOR_FUNCTION, BATCHFLOW_SPLITTER_FUNCTION and BATCHFLOW_PARTITION_QUEUE_ARN (stack outputs) to tune a deployed stack');
  }
  const clients = target.clients;
  const cloudWatch = createCloudWatchClient(clients);
  const spec = topology.scheduled.tuner;
  return runTuner(
    {
      db,
      processor: createProcessorSettings(createLambdaClient(clients), { functionName: names.processorFunctionName, queueArn: names.partitionQueueArn }),
      observe: (window) =>
        readObservation(cloudWatch, { partitionQueue: names.partitionQueueName, processor: names.processorFunctionName, splitter: names.splitterFunctionName }, window),
      defaultPartitionBytes: topology.ingest.partitionBytes,
      windowSeconds: spec.windowSeconds,
      periodSeconds: spec.periodSeconds,
    },
    { apply, now: new Date() },
  );
}
