import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { processPartition } from '../../../lib/process/processPartition.ts';
import { getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { resourceName } from '../../../lib/topology.ts';
import { compareQueries } from './expected.ts';
import { createHeld, listKeys, prepareCsv, processContext, splitHeld, usePipeline, waitForJob, type Held } from './pipeline.ts';
import { generateCsv } from './records.ts';

/**
 * A job reads the exact object version it was opened for. Partitions are split with the real
 * splitter into a held queue, the key is overwritten or deleted, then the partitions are processed:
 * what a processor reads is decided by the pin, not by what the key holds now.
 */
const p = usePipeline('versions');

/** The held queues with a bucket of its own that is versioned (versioning cannot be turned off again). */
async function versionedHeld(): Promise<Held> {
  const held = await createHeld(p);
  const bucket = resourceName(p.stage, 'HeldVersioned');
  await p.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await p.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  return { ...held, bucket };
}

describe('pinned object versions', () => {
  it('in a versioned bucket: an overwrite mid-job changes nothing for the job, which reads its own version exactly', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'pinned_v', { records: 3000, seed: 81 });
    const held = await versionedHeld();
    const key = 'uploads/pinned_v/file.csv';
    const { outcome, messages } = await splitHeld(p, held, key, file.bytes);
    await p.s3.send(new PutObjectCommand({ Bucket: held.bucket, Key: key, Body: generateCsv({ records: 3000, seed: 82 }).bytes }));

    // Act
    const outcomes = [];
    for (const m of messages) outcomes.push(await processPartition(processContext(p), m));
    const job = await getIngestJob(p.db, outcome.jobId!);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(messages.length).toBeGreaterThan(3);
    expect(outcomes.every((o) => o.status === 'merged')).toBe(true);
    expect(job).toMatchObject({ status: 'completed', recordsAggregated: file.good.length });
    expect(job!.versionId).toBeTruthy();
    expect(problems).toEqual([]);
  });

  it('in an unversioned bucket: an overwrite mid-job fails the partitions read after it, naming the change, and the job ends with failures', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'pinned_etag', { records: 3000, seed: 83 });
    const held = await createHeld(p);
    const key = 'uploads/pinned_etag/file.csv';
    const { outcome, messages } = await splitHeld(p, held, key, file.bytes);
    const first = await processPartition(processContext(p), messages[0]!);
    await p.s3.send(new PutObjectCommand({ Bucket: held.bucket, Key: key, Body: generateCsv({ records: 3000, seed: 84 }).bytes }));

    // Act
    const rest = [];
    for (const m of messages.slice(1)) rest.push(await processPartition(processContext(p), m));
    const job = await getIngestJob(p.db, outcome.jobId!);

    // Assess
    expect(first.status).toBe('merged');
    expect(rest.map((o) => o.status)).toEqual(messages.slice(1).map(() => 'object-changed'));
    // Each partition that read after the overwrite failed, naming it; the one merged before stays counted.
    expect(job).toMatchObject({ status: 'completed_with_failures', partitionsDone: 1, partitionsFailed: rest.length, recordsRead: first.stats!.recordsRead });
    expect(job!.reason).toMatch(/changed \(or was deleted\) during processing: PreconditionFailed/);
  });

  it('a deleted object fails the job naming it, instead of retrying until the DLQ', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'pinned_gone', { records: 2000, seed: 85 });
    const held = await createHeld(p);
    const key = 'uploads/pinned_gone/file.csv';
    const { outcome, messages } = await splitHeld(p, held, key, file.bytes);
    await p.s3.send(new DeleteObjectCommand({ Bucket: held.bucket, Key: key }));

    // Act
    const outcomes = [];
    for (const m of messages) outcomes.push(await processPartition(processContext(p), m));
    const job = await getIngestJob(p.db, outcome.jobId!);

    // Assess
    expect(outcomes.every((o) => o.status === 'object-changed')).toBe(true);
    expect(job).toMatchObject({ status: 'failed', recordsRead: 0 });
    expect(job!.reason).toMatch(/changed \(or was deleted\) during processing: NoSuchKey/);
  });

  it('identity is the version: the same bytes by single PUT and by multipart upload are two versions, each ingested once', async () => {
    // Prepare: one part (the last part of an upload may be under S3's 5 MiB) still makes a multipart ETag.
    const { def, file, independent } = await prepareCsv(p, 'two_paths', { records: 3000, seed: 86 });
    const single = 'uploads/two_paths/single.csv';
    const multi = 'uploads/two_paths/multi.csv';

    // Act
    await p.s3.send(new PutObjectCommand({ Bucket: p.bucket, Key: single, Body: file.bytes }));
    const { UploadId } = await p.s3.send(new CreateMultipartUploadCommand({ Bucket: p.bucket, Key: multi }));
    const part = await p.s3.send(new UploadPartCommand({ Bucket: p.bucket, Key: multi, UploadId, PartNumber: 1, Body: file.bytes }));
    await p.s3.send(
      new CompleteMultipartUploadCommand({ Bucket: p.bucket, Key: multi, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
    );
    const jobs = [await waitForJob(p, single), await waitForJob(p, multi)];
    const { problems } = await compareQueries(p.db, def, [...independent.good, ...independent.good], def.rollups);

    // Assess
    expect(jobs.map((j) => j.status)).toEqual(['completed', 'completed']);
    expect(new Set(jobs.map((j) => j.objectVersion)).size).toBe(2);
    expect(jobs[1]!.eTag).toMatch(/-1$/);
    expect(jobs[0]!.eTag).not.toBe(jobs[1]!.eTag);
    expect(problems).toEqual([]);
    expect(await listKeys(p, 'uploads/two_paths/')).toEqual([multi, single]);
  });
});
