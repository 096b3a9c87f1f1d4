import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { s3ObjectStore } from '../../../lib/adapters/objectStore.ts';
import { sqsPartitionQueue } from '../../../lib/adapters/partitionQueue.ts';
import { planByteRanges } from '../../../lib/split/partitionPlan.ts';
import { splitObject } from '../../../lib/split/splitObject.ts';
import { getIngestJob, openIngestJob } from '../../../lib/store/ingestJobs.ts';
import { recordSplit, unsentPartitions } from '../../../lib/store/partitions.ts';
import { topology } from '../../../lib/topology.ts';
import { createHeld, registerDataset, salesCsv, upload, usePipeline } from './pipeline.ts';

const p = usePipeline('large');

/**
 * Objects of many partitions, made of tiny partitions rather than huge files. Nominal ranges are
 * at least 2 × maxRecordBytes + 1 long, so maxRecordBytes 16 and partitionBytes 64 give 64-byte ranges.
 */
const PARTITION_BYTES = 64;
const MAX_RECORD_BYTES = 16;
const HEADER = 'ts,region,product,amount,quantity\n';
const ROW = '2024-03-01T00:00:00Z,north,Widget,1.5,2\n';

/** A CSV of at least `partitions` × PARTITION_BYTES bytes of data. */
function csvOf(partitions: number): Buffer {
  return Buffer.from(HEADER + ROW.repeat(Math.ceil((partitions * PARTITION_BYTES) / ROW.length)));
}

/** The partition rows of a job in order, with whether each was sent. */
async function partitionRows(jobId: number) {
  return p.db.sql<{ idx: number; rangeStart: number; rangeEnd: number; enqueued: boolean }[]>`
    select idx, range_start::float8 as "rangeStart", range_end::float8 as "rangeEnd", enqueued_at is not null as enqueued
    from ${p.db.table('batch_partitions')} where job_id = ${jobId} order by idx`;
}

/** Ranges that do not start where the previous one ended. */
function gaps(rows: readonly { rangeStart: number; rangeEnd: number }[]) {
  return rows.slice(1).filter((r, i) => r.rangeStart !== rows[i]!.rangeEnd);
}

describe('an object of many partitions', () => {
  it('records 20,500 partitions (more than 65,535 parameters at 6 a row) tiling the object', async () => {
    // Prepare
    await registerDataset(p, salesCsv('large'));
    const body = csvOf(20_500);
    const dataStart = Buffer.byteLength(HEADER);
    const expectedCount = Math.floor((body.length - dataStart) / PARTITION_BYTES);
    const key = 'uploads/large/twenty-thousand.csv';
    const { job } = await openIngestJob(p.db, { dataset: 'large', bucket: 'b', key, objectVersion: 'v1', objectSize: body.length, partitionBytes: PARTITION_BYTES });
    const plan = planByteRanges({ key, objectSize: body.length, dataStart, partitionBytes: PARTITION_BYTES, maxRecordBytes: MAX_RECORD_BYTES });

    // Act
    const started = performance.now();
    await recordSplit(p.db, job.jobId, { format: 'csv', compression: 'none', columns: HEADER.trim().split(','), headerLines: 1, dataStart, splitMs: 0, partitions: plan });
    const recordMs = performance.now() - started;
    const rows = await partitionRows(job.jobId);
    const unsent = await unsentPartitions(p.db, job.jobId);
    const recorded = (await getIngestJob(p.db, job.jobId))!;
    console.log(`recordSplit of ${rows.length} partitions: ${Math.round(recordMs)} ms`);

    // Assess
    expect(expectedCount).toBeGreaterThan(65_535 / 6);
    expect(recorded).toMatchObject({ status: 'processing', partitionsTotal: expectedCount });
    expect(rows.map((r) => r.idx)).toEqual([...Array(expectedCount).keys()]);
    expect(rows[0]!.rangeStart).toBe(dataStart);
    expect(rows.at(-1)!.rangeEnd).toBe(body.length);
    expect(gaps(rows)).toEqual([]);
    expect(rows.filter((r) => r.rangeEnd - r.rangeStart < PARTITION_BYTES)).toEqual([]);
    expect(unsent.map((u) => u.idx)).toEqual(rows.map((r) => r.idx));
  }, 120_000);

  it('is split and sent end to end: every partition recorded, sent in chunks, one message each in the queue', async () => {
    // Prepare: 1,500 partitions, over one send chunk (1,000); moto's SendMessageBatch slows as its
    // queue fills (README "Database faults"), which keeps this well below 20,000.
    await registerDataset(p, salesCsv('large'));
    const body = csvOf(1500);
    const dataStart = Buffer.byteLength(HEADER);
    const expectedCount = Math.floor((body.length - dataStart) / PARTITION_BYTES);
    const held = await createHeld(p);
    const key = 'uploads/large/tiny-partitions.csv';
    await upload(p, key, body, held.bucket);
    const head = await p.s3.send(new HeadObjectCommand({ Bucket: held.bucket, Key: key }));

    // Act
    const started = performance.now();
    const outcome = await splitObject(
      { db: p.db, objects: s3ObjectStore(p.s3), queue: sqsPartitionQueue(p.sqs, held.partitions), partitionBytes: PARTITION_BYTES, maxRecordBytes: MAX_RECORD_BYTES, maxDecompressedBytes: topology.ingest.maxDecompressedBytes },
      { bucket: held.bucket, key, size: head.ContentLength!, objectVersion: head.ETag!.replaceAll('"', '') },
    );
    const splitMs = performance.now() - started;
    const rows = await partitionRows(outcome.jobId!);
    const { Attributes } = await p.sqs.send(new GetQueueAttributesCommand({ QueueUrl: held.partitions, AttributeNames: ['ApproximateNumberOfMessages'] }));
    console.log(`split and send of ${rows.length} partitions to moto: ${Math.round(splitMs)} ms (${Math.round(rows.length / (splitMs / 1000))} messages/s)`);

    // Assess
    expect(expectedCount).toBeGreaterThan(1000);
    expect(outcome).toMatchObject({ status: 'split', partitions: expectedCount });
    expect(rows.map((r) => r.idx)).toEqual([...Array(expectedCount).keys()]);
    expect(rows[0]!.rangeStart).toBe(dataStart);
    expect(rows.at(-1)!.rangeEnd).toBe(body.length);
    expect(gaps(rows)).toEqual([]);
    expect(rows.filter((r) => !r.enqueued)).toEqual([]);
    expect(Number(Attributes!.ApproximateNumberOfMessages)).toBe(expectedCount);
  }, 240_000);
});
