import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Upload } from '@aws-sdk/lib-storage';
import cliProgress from 'cli-progress';
import { createS3Client } from '../adapters/aws.ts';
import { getDataset } from '../store/datasets.ts';
import type { Db } from '../store/db.ts';
import { findIngestJobByObject, type IngestJob } from '../store/ingestJobs.ts';
import { topology } from '../topology.ts';
import { CliError, type Target } from './target.ts';

/** Puts a file under `uploads/<dataset>/`, with a timestamp so each upload is a new object. */
export async function uploadFile(db: Db, target: Target, file: string, dataset: string, key?: string): Promise<{ bucket: string; key: string }> {
  if (!target.bucket) throw new CliError('no bucket: set BATCHFLOW_BUCKET (the stack output BucketName)');
  if (!(await getDataset(db, dataset))) throw new CliError(`no dataset named "${dataset}": register it first with batchflow datasets put <file.json>`);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new CliError(`cannot read ${file}`);
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const objectKey = key ?? `${topology.bucket.uploadPrefix}${dataset}/${stamp}-${basename(file)}`;
  const s3 = createS3Client(target.clients);
  // Multipart above 64 MiB (parts of 16 MiB), a single PUT below.
  await new Upload({
    client: s3,
    params: { Bucket: target.bucket, Key: objectKey, Body: createReadStream(file), ContentLength: size },
    partSize: 16 * 1024 * 1024,
    queueSize: 4,
  }).done();
  return { bucket: target.bucket, key: objectKey };
}

/**
 * Waits for the object's job to end, drawing a progress bar on stderr (partitions done / total,
 * records/s) when `progress` is set.
 */
export async function waitForIngestJob(db: Db, object: { bucket: string; key: string }, options: { progress: boolean; timeoutMs?: number }): Promise<IngestJob> {
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
      const job = await findIngestJobByObject(db, object.bucket, object.key);
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
