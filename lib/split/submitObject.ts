import { BatchflowError } from '../errors.ts';
import { getDataset } from '../store/datasets.ts';
import type { Db } from '../store/db.ts';
import { findIngestJobByVersion, getIngestJob, openIngestJob, startCreatedJob, unstartJob, type IngestJob } from '../store/ingestJobs.ts';
import { getTunedSetting } from '../store/performance.ts';
import { topology } from '../topology.ts';
import type { IngestQueue, ObjectHeads } from './ports.ts';
import { datasetOfKey, type CreatedObject } from './s3Event.ts';

/**
 * Jobs for objects already in the bucket (POST /api/batch-jobs): opened exactly as the S3
 * notification path opens them, and run by sending the notification S3 would have sent, so the
 * splitter does the rest as for any upload.
 */

/** What submitting needs: the database, HEAD on the bucket, the ingest queue, and the splitter's defaults. */
export interface SubmitContext {
  readonly db: Db;
  readonly objects: ObjectHeads;
  readonly ingest: IngestQueue;
  /** The stack's upload bucket: the only one whose notifications the splitter is wired to. */
  readonly uploadBucket: string;
  /** The splitter's partition size when the tuner has set none (PARTITION_BYTES). */
  readonly partitionBytes: number;
}

/** A submission refused: `invalid` names the field at fault, `not-found` an object or job, `conflict` a state. */
export class SubmitRefused extends BatchflowError {
  override name = 'SubmitRefused';
  constructor(
    readonly refused: 'invalid' | 'not-found' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

// HEAD has no body, so the SDK names its errors by status. Without s3:ListBucket (the API has
// GetObject on uploads/* only) S3 answers a missing key with 403, not 404.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
const MISSING = ['NotFound', 'NoSuchKey', 'Forbidden', 'AccessDenied'];

/**
 * The job of an object in the upload bucket: opened now (`created` true) or the one its S3
 * notification (or an earlier POST) opened. With `start`, a new job is `splitting` and its
 * notification goes to the ingest queue; a `created` one is started. Without, a new job waits
 * in `created` for startJob.
 */
export async function submitObject(ctx: SubmitContext, request: { bucket?: string; key: string; start: boolean }): Promise<{ job: IngestJob; created: boolean }> {
  const bucket = request.bucket ?? ctx.uploadBucket;
  if (bucket !== ctx.uploadBucket) throw new SubmitRefused('invalid', `bucket must be the stack's upload bucket ${JSON.stringify(ctx.uploadBucket)}, got ${JSON.stringify(bucket)}`);
  const datasetName = datasetOfKey(request.key);
  if (datasetName === undefined) throw new SubmitRefused('invalid', `key must be under ${topology.bucket.uploadPrefix}<dataset>/, got ${JSON.stringify(request.key)}`);
  if (!(await getDataset(ctx.db, datasetName))) {
    throw new SubmitRefused('invalid', `key names dataset ${JSON.stringify(datasetName)}, which does not exist (PUT /api/datasets/${datasetName} registers it)`);
  }
  const object = await headObject(ctx, bucket, request.key);
  const notified = await notifiedJob(ctx.db, object);
  const { job, created } = notified ? { job: notified, created: false } : await openIngestJob(ctx.db, {
    dataset: datasetName,
    bucket,
    key: request.key,
    objectVersion: object.objectVersion,
    versionId: object.versionId,
    eTag: object.eTag,
    objectSize: object.size,
    // As the splitter does: the tuner's size when it set one.
    partitionBytes: (await getTunedSetting(ctx.db, 'partitionBytes')) ?? ctx.partitionBytes,
    status: request.start ? 'splitting' : 'created',
  });
  if (!request.start) return { job, created };
  if (!created && job.status === 'created') return { job: await startJob(ctx, job.jobId), created };
  // A job no split attempt has reached yet: an earlier POST's send may have failed. A second
  // notification is harmless, the splitter takes it as a redelivery.
  if (created || (job.status === 'splitting' && job.splitAttempts === 0)) await ctx.ingest.send(object);
  return { job, created };
}

/** Starts a `created` job (POST /api/batch-jobs/{id}/start): it becomes `splitting` and its notification is sent. */
export async function startJob(ctx: Pick<SubmitContext, 'db' | 'ingest'>, jobId: number): Promise<IngestJob> {
  const outcome = await startCreatedJob(ctx.db, jobId);
  if (!outcome) throw new SubmitRefused('not-found', `no job ${jobId}`);
  if (outcome.conflict) throw new SubmitRefused('conflict', `job ${jobId} is ${outcome.job.status}: only a created job can be started`);
  try {
    await ctx.ingest.send(createdObjectOf(outcome.job));
  } catch (err) {
    await unstartJob(ctx.db, jobId, outcome.partitionBytesBefore);
    throw err;
  }
  return (await getIngestJob(ctx.db, jobId)) ?? outcome.job;
}

/**
 * The job a notification already opened for this version. S3 names a version in a versioned
 * bucket's notifications by its version id, as HEAD does; moto (the local stack) sends only the
 * ETag, and the splitter then keys the job by it (parseS3Notification).
 */
async function notifiedJob(db: Db, object: CreatedObject): Promise<IngestJob | undefined> {
  const byVersion = await findIngestJobByVersion(db, object);
  if (byVersion || !object.versionId || !object.eTag) return byVersion;
  const byETag = await findIngestJobByVersion(db, { ...object, objectVersion: object.eTag });
  return byETag?.versionId === null ? byETag : undefined;
}

/** The object as its S3 notification names it: the version id in a versioned bucket, else the ETag. */
async function headObject(ctx: SubmitContext, bucket: string, key: string): Promise<CreatedObject> {
  let head;
  try {
    head = await ctx.objects.head(bucket, key);
  } catch (err) {
    if (MISSING.includes((err as { name?: string }).name ?? '')) throw new SubmitRefused('not-found', `no object s3://${bucket}/${key}`);
    throw err;
  }
  return { bucket, key, size: head.size, objectVersion: head.versionId ?? head.eTag, ...(head.versionId ? { versionId: head.versionId } : {}), eTag: head.eTag };
}

function createdObjectOf(job: IngestJob): CreatedObject {
  return {
    bucket: job.bucket,
    key: job.key,
    size: job.objectSize ?? 0,
    objectVersion: job.objectVersion,
    ...(job.versionId ? { versionId: job.versionId } : {}),
    ...(job.eTag ? { eTag: job.eTag } : {}),
  };
}
