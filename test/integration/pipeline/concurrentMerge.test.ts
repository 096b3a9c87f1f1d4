import { describe, expect, it } from 'vitest';
import type { PartitionMessage } from '../../../lib/process/partitionMessage.ts';
import { processPartition, type PartitionOutcome } from '../../../lib/process/processPartition.ts';
import { queryRollups } from '../../../lib/query/queryRollups.ts';
import { getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { compareQueries } from './expected.ts';
import { createHeld, functionStats, ownPool, prepareCsv, processContext, splitHeld, uploadAndWait, usePipeline } from './pipeline.ts';
import type { FlatRecord } from './records.ts';

/** Processors in flight at once in the direct test, each with a pool of its own. */
const LANES = 12;

// A partition that failed (a deadlock, say) comes back after 20 s rather than 30 minutes.
const p = usePipeline('merge', { queueOverrides: { partitions: { visibilityTimeoutSeconds: 20 } } });

/** How many quantities the records hold and their total: integers, so exact in doubles. */
function quantities(records: readonly FlatRecord[]): { count: number; sum: number } {
  const values = records.flatMap((r) => (r.metrics.quantity === undefined ? [] : [r.metrics.quantity]));
  return { count: values.length, sum: values.reduce((s, v) => s + v, 0) };
}

describe('processors merging into the same rollup rows at the same time', () => {
  it(`sum exactly, without a deadlock, with ${LANES} in flight on their own pools`, async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'hot', { records: 4000, seed: 41, cells: 'hot' });
    const held = await createHeld(p);
    const { outcome, messages } = await splitHeld(p, held, 'uploads/hot/cells.csv', file.bytes);
    const waiting: PartitionMessage[] = [...messages];
    let inFlight = 0;
    let maxInFlight = 0;

    // Act
    const lane = async (): Promise<PartitionOutcome[]> => {
      const db = ownPool(p);
      const outcomes: PartitionOutcome[] = [];
      try {
        for (let m = waiting.shift(); m; m = waiting.shift()) {
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          outcomes.push(await processPartition(processContext(p, db), m).finally(() => inFlight--));
        }
      } finally {
        await db.close();
      }
      return outcomes;
    };
    const settled = await Promise.allSettled(Array.from({ length: LANES }, lane));
    const job = (await getIngestJob(p.db, outcome.jobId!))!;
    const weeks = await queryRollups(p.db, def, { granularity: '1-week', by: [], metrics: ['quantity'] });
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(messages.length).toBeGreaterThanOrEqual(2 * LANES);
    expect(maxInFlight).toBe(LANES);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    expect(settled.flatMap((s) => (s.status === 'fulfilled' ? s.value.map((o) => o.status) : []))).toEqual(messages.map(() => 'merged'));
    expect(job).toMatchObject({ status: 'completed', partitionsDone: messages.length, recordsAggregated: file.good.length });
    expect(weeks.map((w) => ({ count: w.count, sum: w.sum }))).toEqual([quantities(independent.good)]);
    expect(problems).toEqual([]);
  });

  it('sum exactly when the local runtime runs the processors for an upload of hot cells', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'hotstack', { records: 4000, seed: 42, cells: 'hot' });
    const key = 'uploads/hotstack/cells.csv';
    const processor = functionStats(p, 'processor');

    // Act
    const job = await uploadAndWait(p, key, file.bytes);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(job).toMatchObject({ status: 'completed', recordsAggregated: independent.good.length });
    expect(job.partitionsTotal).toBeGreaterThanOrEqual(20);
    expect(job.partitionsDone).toBe(job.partitionsTotal);
    expect(processor.failedRecords).toBe(0);
    expect(processor.maxInFlight).toBeGreaterThan(1);
    expect(problems).toEqual([]);
  });
});
