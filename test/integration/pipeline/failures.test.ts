import { describe, expect, it } from 'vitest';
import { findIngestJobByObject } from '../../../lib/store/ingestJobs.ts';
import { waitFor } from '../localstack/support.ts';
import { countRows, functionStats, registerDataset, salesCsv, sendBodies, upload, uploadAndWait, usePipeline, waitForEmptyQueue } from './pipeline.ts';
import { csvField, generateCsv } from './records.ts';

const p = usePipeline('failures');

/** An S3 ObjectCreated notification as S3 puts it on the ingest queue (key URL-encoded, `+` for spaces). */
function notification(bucket: string, key: string, size: number): string {
  const encoded = encodeURIComponent(key).replaceAll('%20', '+');
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: { s3SchemaVersion: '1.0', bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` }, object: { key: encoded, size, eTag: 'e0' } },
      },
    ],
  });
}

describe('an upload the pipeline cannot ingest', () => {
  it('under an unknown dataset prefix ends its job failed, naming the prefix', async () => {
    // Prepare
    const key = 'uploads/nosuch/2024-03.csv';

    // Act
    const job = await uploadAndWait(p, key, generateCsv({ records: 50, seed: 61 }).bytes);
    const partitions = await countRows(p, 'batch_partitions', { jobId: job.jobId });

    // Assess
    expect(job).toMatchObject({ status: 'failed', dataset: 'nosuch', recordsRead: 0 });
    expect(job.reason).toContain('uploads/nosuch/');
    expect(partitions).toBe(0);
  });

  it('as a CSV whose header lacks a column the dataset defines ends its job failed, naming the column', async () => {
    // Prepare
    await registerDataset(p, salesCsv('sales'));
    const key = 'uploads/sales/no-quantity.csv';
    const rows = ['ts,region,product,amount', ...['north', 'south'].map((r, i) => `2024-03-0${i + 4}T10:00:00Z,${r},${csvField('Widget, large')},1.50`)];

    // Act
    const job = await uploadAndWait(p, key, Buffer.from(rows.join('\r\n')));
    const rollups = await countRows(p, 'rollups', { dataset: 'sales' });

    // Assess
    expect(job).toMatchObject({ status: 'failed', dataset: 'sales', recordsRead: 0 });
    expect(job.reason).toContain('"quantity"');
    expect(rollups).toBe(0);
  });

  it('under a key outside uploads/<dataset>/ makes no job, whether S3 or a stray message announces it', async () => {
    // Prepare
    const body = generateCsv({ records: 50, seed: 62 }).bytes;
    const outside = 'archive/sales/2024-03.csv';
    const loose = 'uploads/loose file.csv';
    const ingest = p.stack.state.queues.ingest;
    const splitter = functionStats(p, 'splitter');
    await waitForEmptyQueue(p, ingest.url);
    const handledBefore = splitter.succeededRecords;

    // Act
    await upload(p, outside, body);
    await upload(p, loose, body);
    await sendBodies(p, ingest.url, [notification(p.bucket, outside, body.length)]);
    await waitFor(async () => splitter.succeededRecords >= handledBefore + 2, 60_000, 'the splitter to handle both notifications');
    await waitForEmptyQueue(p, ingest.url);
    const jobs = await Promise.all([outside, loose].map((key) => findIngestJobByObject(p.db, p.bucket, key)));
    const all = await countRows(p, 'batch_jobs', { key: outside });

    // Assess
    expect(jobs).toEqual([undefined, undefined]);
    expect(all).toBe(0);
    expect(splitter.succeededRecords).toBe(handledBefore + 2);
    expect(splitter.failedRecords).toBe(0);
  });
});
