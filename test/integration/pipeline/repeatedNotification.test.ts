import { describe, expect, it } from 'vitest';
import { getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { waitFor } from '../localstack/support.ts';
import { compareQueries } from './expected.ts';
import { countRows, createHeld, functionStats, prepareCsv, receiveBodies, sendBodies, upload, usePipeline, waitForEmptyQueue, waitForJob } from './pipeline.ts';

const p = usePipeline('renotify');

describe('a repeated S3 notification for the same object', () => {
  it('creates no second job and counts nothing twice, whether it repeats at once or after the job finished', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'orders', { records: 1500, seed: 71, badRows: 4 });
    const key = 'uploads/orders/day 1.csv';
    // The held bucket notifies a queue only the test reads: the test holds S3's own message body.
    const held = await createHeld(p, { notify: true });
    await upload(p, key, file.bytes, held.bucket);
    const [notification] = await receiveBodies(p, held.notifications, 1, (body) => body.includes('ObjectCreated'));
    const { ingest, partitions } = p.stack.state.queues;
    const splitter = functionStats(p, 'splitter');

    // Act
    await sendBodies(p, ingest.url, [notification, notification, notification]);
    const finished = await waitForJob(p, key, held.bucket);
    await waitForEmptyQueue(p, ingest.url);
    await waitForEmptyQueue(p, partitions.url);
    const handledBefore = splitter.succeededRecords;
    await sendBodies(p, ingest.url, [notification]);
    await waitFor(async () => splitter.succeededRecords > handledBefore, 60_000, 'the late notification');
    await waitForEmptyQueue(p, ingest.url);
    await waitForEmptyQueue(p, partitions.url);
    const after = (await getIngestJob(p.db, finished.jobId))!;
    const jobs = await countRows(p, 'batch_jobs', { key });
    const partitionRows = await countRows(p, 'batch_partitions', { jobId: finished.jobId });
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(jobs).toBe(1);
    expect(after).toEqual(finished);
    expect(after).toMatchObject({
      status: 'completed_with_rejects',
      partitionsDone: after.partitionsTotal,
      recordsAggregated: independent.good.length,
      recordsRejected: file.bad.length,
    });
    expect(partitionRows).toBe(after.partitionsTotal);
    expect(splitter.failedRecords).toBe(0);
    expect(problems).toEqual([]);
  });
});
