import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import type { Db } from '../store/db.ts';
import { findIngestJobByObject, type IngestJob } from '../store/ingestJobs.ts';
import { topology } from '../topology.ts';
import type { UploadedObject } from './operations.ts';
import { directOperations } from './directOperations.ts';
import { CliError, type DirectTarget } from './target.ts';

/** The key an upload goes to: `uploads/<dataset>/<timestamp>-<file name>`, so each upload is a new object. */
export function uploadKey(file: string, dataset: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${topology.bucket.uploadPrefix}${dataset}/${stamp}-${basename(file)}`;
}

/**
 * Waits for the object's job (`jobOf`: from the database or the API) to end, drawing a progress bar on stderr (partitions done / total,
 * records/s) when `progress` is set.
 */
export async function waitForIngestJob(
  jobOf: (object: UploadedObject) => Promise<IngestJob | undefined>,
  object: UploadedObject,
  options: { progress: boolean; timeoutMs?: number },
): Promise<IngestJob> {
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  const noJobDeadline = Date.now() + 60_000;
  const bar = options.progress
    ? new cliProgress.SingleBar(
        { format: 'partitions {bar} {value}/{total} | {records} records | {rate} records/s | {status}', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let started = false;
  try {
    for (;;) {
      const job = await jobOf(object);
      if (!job && Date.now() > noJobDeadline) {
        throw new CliError(`no job for s3://${object.bucket}/${object.key} after 60 s: is the stack (npm run local) running and its splitter healthy?`);
      }
      if (job && bar) {
        const seconds = Math.max(0.001, (Date.now() - job.createdAt.getTime()) / 1000);
        const payload = { records: job.recordsRead, rate: Math.round(job.recordsRead / seconds), status: job.status };
        if (!started) bar.start(job.partitionsTotal ?? 1, job.partitionsDone, payload);
        started = true;
        bar.setTotal(job.partitionsTotal ?? Math.max(1, job.partitionsDone));
        bar.update(job.partitionsDone, payload);
      }
      if (job && !['splitting', 'processing'].includes(job.status)) return job;
      if (Date.now() > deadline) throw new CliError(`job for ${object.key} still ${job?.status ?? 'absent'} after the timeout`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    bar?.stop();
  }
}

/** Uploads a file to a stack the caller reaches directly (the demo and the benchmarks drive a local stack). */
export function uploadFile(db: Db, target: DirectTarget, file: string, dataset: string, key?: string): Promise<UploadedObject> {
  return directOperations(db, target).upload(file, dataset, key ?? uploadKey(file, dataset));
}

/** The job of an object, from the database: waitForIngestJob's `jobOf` for a direct caller. */
export const jobInDatabase = (db: Db) => (object: UploadedObject) => findIngestJobByObject(db, object.bucket, object.key);
