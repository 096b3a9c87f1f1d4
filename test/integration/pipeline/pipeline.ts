import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, inject } from 'vitest';
import { createS3Client, createSqsClient } from '../../../lib/adapters/aws.ts';
import { DEFAULTS } from '../../../lib/config.ts';
import { s3ObjectStore } from '../../../lib/adapters/objectStore.ts';
import { sqsPartitionQueue } from '../../../lib/adapters/partitionQueue.ts';
import { parsePartitionMessage, type PartitionMessage } from '../../../lib/process/partitionMessage.ts';
import { parseDatasetDefinition, type DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { cachedJobDefinitions } from '../../../lib/process/definitionCache.ts';
import type { ProcessContext } from '../../../lib/process/processPartition.ts';
import { splitObject, type SplitBudget, type SplitOutcome } from '../../../lib/split/splitObject.ts';
import { putDataset } from '../../../lib/store/datasets.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { ENDED_STATUSES, findIngestJobByObject, getJobDefinition, type IngestJob } from '../../../lib/store/ingestJobs.ts';
import { resourceName, topology } from '../../../lib/topology.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../../localstack/stack.ts';
import { salesCsv } from '../../support/sales.ts';
import { queueDepth, uniqueStage, waitFor } from '../localstack/support.ts';
import { readCsvIndependently } from './expected.ts';
import { generateCsv, type CsvOptions, type FlatRecord, type GeneratedFile } from './records.ts';

/** The CSV dataset of records.ts's generateCsv and analytics/support.ts's salesFile: the sales dataset. */
export { salesCsv };

/**
 * The pipeline under test: the local stack (real moto, real Postgres, the real handlers in worker
 * threads) in a stage and a schema of its own, with clients to drive it and read its results.
 */

/** Small partitions, so files of a few hundred KB make tens of them (≥ 2 × MAX_RECORD_BYTES + 1). */
export const PARTITION_BYTES = 8192;
export const MAX_RECORD_BYTES = 2048;

export interface Pipeline {
  readonly stack: LocalStack;
  readonly stage: string;
  readonly schema: string;
  readonly bucket: string;
  readonly db: Db;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly endpoint: string;
  readonly databaseUrl: string;
  /** The stack's last log lines (failures, settings changes), for a timeout's message. */
  readonly recentLog: readonly string[];
  /** Stops the stack, drops the schema, closes the clients. */
  stop(): Promise<void>;
}

type PipelineOptions = Pick<LocalStackOptions, 'queueOverrides' | 'httpApiPort' | 'httpApiAuth' | 'environment' | 'watchdogIntervalMs' | 'compactorIntervalMs'>;

/**
 * The pipeline of one test file, named after it: started before the file's tests (beforeAll),
 * stopped after them (afterAll). Call it at the top of the file; it returns at once, for the
 * tests and the file's helpers to use once beforeAll has run (before, any use throws).
 *
 * @example
 * const p = usePipeline('csv');
 * it('...', async () => { const job = await uploadAndWait(p, key, bytes); ... });
 */
export function usePipeline(name: string, options: PipelineOptions = {}): Pipeline {
  let started: Pipeline | undefined;
  beforeAll(async () => {
    started = await startPipeline(name, options);
  });
  afterAll(async () => {
    await started?.stop();
  });
  return new Proxy({} as Pipeline, {
    get(_, property) {
      if (!started) throw new Error(`the pipeline "${name}" is used before beforeAll started it`);
      return Reflect.get(started, property);
    },
  });
}

/** Starts the stack for one test file, named after it. */
async function startPipeline(name: string, options: PipelineOptions = {}): Promise<Pipeline> {
  const endpoint = inject('awsEndpoint');
  const region = inject('awsRegion');
  const databaseUrl = inject('databaseUrl');
  const stage = uniqueStage(`it-${name}`);
  const schema = `it_pipeline_${name.replaceAll('-', '_')}_${randomBytes(3).toString('hex')}`;
  const recentLog: string[] = [];
  const stack = await startLocalStack({
    stage,
    endpoint,
    databaseUrl,
    databaseSchema: schema,
    log: (line) => recentLog.push(`${new Date().toISOString().slice(11, 23)} ${line}`) > 40 && recentLog.shift(),
    ...options,
    environment: {
      PARTITION_BYTES: String(PARTITION_BYTES),
      MAX_RECORD_BYTES: String(MAX_RECORD_BYTES),
      // The functions log each partition at INFO; warnings and errors still show.
      POWERTOOLS_LOG_LEVEL: 'WARN',
      ...options.environment,
    },
  });
  const db = connectDb({ url: databaseUrl, schema, max: 4 });
  const s3 = createS3Client({ endpoint, region });
  const sqs = createSqsClient({ endpoint, region });
  return {
    stack,
    stage,
    schema,
    bucket: stack.state.bucket,
    db,
    s3,
    sqs,
    endpoint,
    databaseUrl,
    recentLog,
    async stop() {
      await stack.stop({ drainTimeoutMs: 10_000 });
      await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
      await db.close();
      s3.destroy();
      sqs.destroy();
    },
  };
}

/** Validates and registers a dataset; returns it as the pipeline reads it. */
export async function registerDataset(p: Pipeline, definition: Record<string, unknown>): Promise<DatasetDefinition> {
  const def = parseDatasetDefinition(definition);
  await putDataset(p.db, def);
  return def;
}

/** Uploads an object. */
export async function upload(p: Pipeline, key: string, body: Uint8Array, bucket = p.bucket): Promise<void> {
  await p.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/**
 * A CSV upload's inputs and expectations: registers the sales dataset as `dataset`, generates the
 * file (records.ts) and reads it as csv-parse and plain arithmetic do (expected.ts), not as the
 * pipeline does.
 */
export async function prepareCsv(
  p: Pipeline,
  dataset: string,
  options: CsvOptions,
): Promise<{ def: DatasetDefinition; file: GeneratedFile; independent: { good: FlatRecord[]; rejected: number } }> {
  const def = await registerDataset(p, salesCsv(dataset));
  const file = generateCsv(options);
  return { def, file, independent: readCsvIndependently(file.bytes, def) };
}

/** Uploads an object and waits for its job to finish (see waitForJob). */
export async function uploadAndWait(p: Pipeline, key: string, body: Uint8Array, bucket = p.bucket): Promise<IngestJob> {
  await upload(p, key, body, bucket);
  return waitForJob(p, key, bucket);
}

const FINISHED = new Set<string>(ENDED_STATUSES);

/**
 * The job of an object once it has ended (ENDED_STATUSES: completed, with rejects or failures,
 * failed, stopped). A timeout says where the job stood (or that none was recorded), what the
 * queues held and what the local functions did, so a slow machine can be told apart from a job
 * that hangs.
 */
export async function waitForJob(p: Pipeline, key: string, bucket = p.bucket, timeoutMs = 90_000): Promise<IngestJob> {
  try {
    return await waitFor(
      async () => {
        const job = await findIngestJobByObject(p.db, bucket, key);
        return job && FINISHED.has(job.status) ? job : undefined;
      },
      timeoutMs,
      `the job of ${key} to finish`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await pipelineReport(p, bucket, key)}`);
  }
}

/** Where the job of an object stands and what the stack around it holds, in a few lines. */
async function pipelineReport(p: Pipeline, bucket: string, key: string): Promise<string> {
  const job = await findIngestJobByObject(p.db, bucket, key);
  const queues = await Promise.all(
    Object.entries(p.stack.state.queues).map(async ([name, q]) => {
      const depth = async (url: string) => {
        const { Attributes: a } = await p.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
        return `${a?.ApproximateNumberOfMessages ?? '?'} visible + ${a?.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight`;
      };
      return `${name}: ${await depth(q.url)} (dead letters ${await depth(q.deadLetterUrl)})`;
    }),
  );
  return [
    job
      ? `job ${job.jobId}: ${job.status}, ${job.partitionsDone}/${job.partitionsTotal ?? '?'} partitions, ${job.recordsAggregated} aggregated, ${job.recordsRejected} rejected, reason ${job.reason ?? 'none'}`
      : `no job recorded for s3://${bucket}/${key}`,
    `queues: ${queues.join('; ')}`,
    `functions: ${JSON.stringify(p.stack.sqsPoller.stats)}`,
    `stack log (last ${p.recentLog.length} lines):`,
    ...p.recentLog,
  ].join('\n');
}

/** Waits until a queue holds no message, visible or in flight (every delivery was handled). */
export async function waitForEmptyQueue(p: Pipeline, queueUrl: string, timeoutMs = 60_000): Promise<void> {
  try {
    await waitFor(async () => (await queueDepth(p.sqs, queueUrl)) === 0, timeoutMs, `${queueUrl} to drain`);
  } catch (err) {
    // Say what was left and what the local Lambda service did, so a timeout can be told apart
    // from a lost delivery or a failing function.
    const { Attributes } = await p.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
    throw new Error(`${(err as Error).message}; queue ${JSON.stringify(Attributes)}; poller ${JSON.stringify(p.stack.sqsPoller.stats)}`);
  }
}

/** A local function's counters (the local SQS poller's). */
export function functionStats(p: Pipeline, fn: 'splitter' | 'processor') {
  return p.stack.sqsPoller.stats[`batchflow-${p.stage}-${fn}`];
}

/** Sends message bodies to a queue, 10 per batch. */
export async function sendBodies(p: Pipeline, queueUrl: string, bodies: readonly string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const entries = bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body }));
    const { Failed } = await p.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (Failed?.length) throw new Error(`send failed: ${JSON.stringify(Failed)}`);
  }
}

/**
 * Rows of a table of the pipeline's schema for one dataset or job, e.g. to prove nothing was merged.
 * For `rollups`, the dataset's cells (rollup, bucket, dimension values), compacted or partial: a
 * count compaction does not change.
 */
export async function countRows(p: Pipeline, table: 'rollups' | 'batch_partitions' | 'batch_jobs', where: { dataset?: string; jobId?: number; key?: string }): Promise<number> {
  const { sql } = p.db;
  if (table === 'rollups') {
    const [row] = await sql`
      select count(*)::int as n from (
        select rollup, bucket_start, dims from ${p.db.table('rollups')} where dataset = ${where.dataset ?? ''}
        union
        select rollup, bucket_start, dims from ${p.db.table('rollup_partials')} where dataset = ${where.dataset ?? ''}) cells`;
    return row.n as number;
  }
  const conditions = [
    where.dataset !== undefined ? sql`dataset = ${where.dataset}` : sql`true`,
    where.jobId !== undefined ? sql`job_id = ${where.jobId}` : sql`true`,
    where.key !== undefined ? sql`key = ${where.key}` : sql`true`,
  ];
  const [row] = await sql`
    select count(*)::int as n from ${p.db.table(table)}
    where ${conditions[0]} and ${conditions[1]} and ${conditions[2]}`;
  return row.n as number;
}

/** Keys under a prefix of a bucket. */
export async function listKeys(p: Pipeline, prefix: string, bucket = p.bucket): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await p.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(out.Contents ?? []).map((o) => o.Key!));
    token = out.NextContinuationToken;
  } while (token);
  return keys;
}

/**
 * A bucket and queues outside the stack's wiring, for tests that drive the pipeline's functions
 * themselves: objects here raise no notification the stack sees (unless `notify` wires the bucket
 * to `notifications`, a queue only the test reads), and partition messages sent to `partitions`
 * reach no processor but the test's own calls.
 */
export interface Held {
  readonly bucket: string;
  readonly partitions: string;
  readonly notifications: string;
}

/** Creates the held bucket and queues of a pipeline. */
export async function createHeld(p: Pipeline, options: { notify?: boolean } = {}): Promise<Held> {
  const bucket = resourceName(p.stage, 'Held');
  await p.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const queue = async (id: string) => {
    const { QueueUrl } = await p.sqs.send(new CreateQueueCommand({ QueueName: resourceName(p.stage, id), Attributes: { VisibilityTimeout: '600' } }));
    return QueueUrl!;
  };
  const [partitions, notifications] = await Promise.all([queue('HeldPartitions'), queue('HeldNotifications')]);
  if (options.notify) {
    const { Attributes } = await p.sqs.send(new GetQueueAttributesCommand({ QueueUrl: notifications, AttributeNames: ['QueueArn'] }));
    await p.s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: bucket,
        NotificationConfiguration: {
          QueueConfigurations: [
            { QueueArn: Attributes!.QueueArn!, Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } } },
          ],
        },
      }),
    );
  }
  return { bucket, partitions, notifications };
}

/** Receives `count` distinct messages of a held queue (kept in flight, so each is received once). */
export async function receiveBodies(p: Pipeline, queueUrl: string, count: number, accept: (body: string) => boolean = () => true): Promise<string[]> {
  const bodies = new Map<string, string>();
  return waitFor(
    async () => {
      const { Messages } = await p.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600 }),
      );
      for (const m of Messages ?? []) if (accept(m.Body!)) bodies.set(m.MessageId!, m.Body!);
      return bodies.size >= count ? [...bodies.values()] : undefined;
    },
    30_000,
    `${count} messages on ${queueUrl}`,
  );
}

/**
 * The contexts the functions build at cold start, here over the test's own clients and pool; each
 * context has its own definition cache, as each processor container does.
 */
export function processContext(p: Pipeline, db: Db = p.db): ProcessContext {
  return {
    db,
    objects: s3ObjectStore(p.s3),
    maxRecordBytes: MAX_RECORD_BYTES,
    maxStoredRejects: DEFAULTS.maxStoredRejects,
    flushCells: DEFAULTS.partialFlushCells,
    definitions: cachedJobDefinitions((jobId) => getJobDefinition(db, jobId)),
  };
}

/**
 * Uploads an object to the held bucket and splits it with the real splitObject, its partition
 * messages going to the held partitions queue; returns the outcome and those messages.
 */
export async function splitHeld(
  p: Pipeline,
  held: Held,
  key: string,
  body: Uint8Array,
  budget?: SplitBudget,
): Promise<{ outcome: SplitOutcome; messages: PartitionMessage[] }> {
  await upload(p, key, body, held.bucket);
  const head = await p.s3.send(new HeadObjectCommand({ Bucket: held.bucket, Key: key }));
  const outcome = await splitObject(
    {
      db: p.db,
      objects: s3ObjectStore(p.s3),
      queue: sqsPartitionQueue(p.sqs, held.partitions),
      partitionBytes: PARTITION_BYTES,
      maxRecordBytes: MAX_RECORD_BYTES,
      maxDecompressedBytes: topology.ingest.maxDecompressedBytes,
    },
    {
      bucket: held.bucket,
      key,
      size: head.ContentLength!,
      // As S3 events name it: the version id in a versioned bucket, else the ETag.
      objectVersion: head.VersionId && head.VersionId !== 'null' ? head.VersionId : head.ETag!.replaceAll('"', ''),
      ...(head.VersionId && head.VersionId !== 'null' ? { versionId: head.VersionId } : {}),
      eTag: head.ETag!.replaceAll('"', ''),
    },
    budget,
  );
  const bodies = await receiveBodies(p, held.partitions, outcome.partitions);
  return { outcome, messages: bodies.map(parsePartitionMessage).sort((a, b) => a.idx - b.idx) };
}

/** A pool of its own (one connection), as each processor instance has. */
export function ownPool(p: Pipeline): Db {
  return connectDb({ url: p.databaseUrl, schema: p.schema, max: 1 });
}
