import { describe, expect, it } from 'vitest';
import { processPartition } from '../../../lib/process/processPartition.ts';
import { findIngestJobByObject, getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { listRejects } from '../../../lib/store/rejects.ts';
import { waitFor } from '../localstack/support.ts';
import { compareQueries } from './expected.ts';
import {
  createHeld,
  functionStats,
  ownPool,
  prepareCsv,
  processContext,
  sendBodies,
  splitHeld,
  upload,
  usePipeline,
  waitForEmptyQueue,
  waitForJob,
} from './pipeline.ts';

// A short visibility timeout: a delivery moto hands out but whose answer is lost (a client-side
// retry of a slow ReceiveMessage) comes back in seconds instead of the topology's 30 minutes, and
// one more copy is exactly what this file is about.
const p = usePipeline('redelivery', { queueOverrides: { partitions: { visibilityTimeoutSeconds: 20 } } });

describe('a partition message delivered more than once', () => {
  it('is merged once whether the copies are processed one after another or at the same time', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'direct', { records: 1500, seed: 31, badRows: 8 });
    const held = await createHeld(p);
    const { outcome, messages } = await splitHeld(p, held, 'uploads/direct/held.csv', file.bytes);
    // Each copy on its own pool, as separate processor instances would be.
    const pools = [ownPool(p), ownPool(p), ownPool(p)];

    // Act
    const sequential: string[][] = [];
    const concurrent: string[][] = [];
    for (const message of messages) {
      if (message.idx % 2 === 0) {
        const first = await processPartition(processContext(p, pools[0]), message);
        const second = await processPartition(processContext(p, pools[1]), message);
        sequential.push([first.status, second.status]);
      } else {
        const copies = await Promise.all(pools.map((db) => processPartition(processContext(p, db), message)));
        concurrent.push(copies.map((c) => c.status).sort());
      }
    }
    await Promise.all(pools.map((db) => db.close()));
    const job = (await getIngestJob(p.db, outcome.jobId!))!;
    const rejects = await listRejects(p.db, job.jobId);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);
    const measured = await p.db.sql<{ partitions: number; rows: number; records: number }[]>`
      select count(distinct partition_idx)::int as partitions, count(*)::int as rows, sum(metric_value)::float8 as records
      from ${p.db.table('performance_metrics')} where job_id = ${job.jobId} and metric_name = 'recordsRead'`;

    // Assess
    // Only the merging copy stores its measurements: one recordsRead per partition, adding up.
    expect(measured[0]).toEqual({ partitions: job.partitionsTotal, rows: job.partitionsTotal, records: independent.good.length + file.bad.length });
    expect(outcome.status).toBe('split');
    expect(messages.map((m) => m.idx)).toEqual([...Array(job.partitionsTotal).keys()]);
    expect(sequential.length).toBeGreaterThanOrEqual(3);
    expect(concurrent.length).toBeGreaterThanOrEqual(3);
    expect(sequential).toEqual(sequential.map(() => ['merged', 'duplicate']));
    expect(concurrent).toEqual(concurrent.map(() => ['duplicate', 'duplicate', 'merged']));
    expect(job).toMatchObject({
      status: 'completed_with_rejects',
      partitionsDone: job.partitionsTotal,
      recordsAggregated: independent.good.length,
      recordsRejected: file.bad.length,
      recordsRead: independent.good.length + file.bad.length,
    });
    expect(rejects.map((r) => r.line)).toEqual(file.bad.map((b) => b.line));
    expect(problems).toEqual([]);
  });

  it('is absorbed when the partitions queue carries copies, during processing and after the job finished', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'queued', { records: 2000, seed: 32, badRows: 5 });
    const key = 'uploads/queued/copies.csv';
    const queue = p.stack.state.queues.partitions;
    const processor = functionStats(p, 'processor');

    // Act
    await upload(p, key, file.bytes);
    const split = await waitFor(async () => {
      const job = await findIngestJobByObject(p.db, p.bucket, key);
      return job?.partitionsTotal ? job : undefined;
    }, 60_000, 'the split');
    const copies = Array.from({ length: split.partitionsTotal! }, (_, idx) => JSON.stringify({ v: 1, jobId: split.jobId, idx }));
    await sendBodies(p, queue.url, copies);
    const finished = await waitForJob(p, key);
    await waitForEmptyQueue(p, queue.url);
    const handledBefore = processor.succeededRecords;
    await sendBodies(p, queue.url, copies);
    await waitFor(async () => processor.succeededRecords >= handledBefore + copies.length, 60_000, 'the late copies');
    await waitForEmptyQueue(p, queue.url);
    const after = (await getIngestJob(p.db, split.jobId))!;
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(split.partitionsTotal).toBeGreaterThanOrEqual(10);
    expect(after).toEqual(finished);
    expect(after).toMatchObject({
      status: 'completed_with_rejects',
      partitionsDone: split.partitionsTotal,
      recordsAggregated: independent.good.length,
      recordsRejected: file.bad.length,
    });
    expect(processor.failedRecords).toBe(0);
    expect(problems).toEqual([]);
  });
});
