import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sqsPartitionQueue } from '../../../lib/adapters/partitionQueue.ts';
import { queryRollups } from '../../../lib/query/queryRollups.ts';
import { RecoveryRefused, restartIngestJob, retryPartitions } from '../../../lib/recovery/recovery.ts';
import { getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { listRejects } from '../../../lib/store/rejects.ts';
import { waitFor } from '../localstack/support.ts';
import { compareQueries, readCsvIndependently } from './expected.ts';
import { countRows, registerDataset, salesCsv, uploadAndWait, usePipeline } from './pipeline.ts';
import { CSV_COLUMNS } from './records.ts';

/**
 * maxRejectedPercent through the pipeline: a file whose first records are mostly rejects fails at
 * the split, before any partition is sent; one that passes its sample but ends past the threshold
 * fails with nothing of it in the rollups (partial or compacted: the compactor runs after each job
 * here, as deployed), and a restart after raising the threshold brings it to the rollups an
 * independent reading gives, its counts and rejects not doubled. Rates are plain arithmetic.
 */

const p = usePipeline('tolerance');

const HEADER = `${CSV_COLUMNS.join(',')}\r\n`;
/** Row i: a good record, or (when `bad(i)`) one whose amount is not a number. */
const row = (i: number, bad: boolean) => `2024-06-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:30:00Z,r${i % 4},,p${i % 5},${bad ? 'n/a' : (i % 50) + 0.5},${i % 7}\r\n`;
const file = (n: number, bad: (i: number) => boolean) => HEADER + Array.from({ length: n }, (_, i) => row(i, bad(i))).join('');

/** Whether anything of a dataset is in its rollups: partial rows, compacted rows, query answers. */
async function leftOf(dataset: string, def: Parameters<typeof queryRollups>[1]) {
  const [partial] = await p.db.sql<{ n: number }[]>`select count(*)::int as n from ${p.db.table('rollup_partials')} where dataset = ${dataset}`;
  return { partial: partial.n, compacted: await countRows(p, 'rollups', { dataset }), answered: (await queryRollups(p.db, def, { granularity: '1-hour', by: [] })).length };
}

describe('a sample of the first records past maxRejectedPercent', () => {
  it.each([
    {
      name: 'time_format',
      // ISO times in a dataset that reads epoch milliseconds: every record is a reject.
      change: { timeFormat: 'epoch_ms' },
      body: () => Buffer.from(file(3000, () => false)),
      first: /The first reject, line 2: field "ts": "2024-06-01T00:30:00Z" is not a valid epoch_ms timestamp$/,
      percent: 100,
    },
    {
      name: 'decimal_comma_gzip',
      // Decimal commas, unquoted (a European export): one field too many in 3 records of 4.
      change: {},
      body: () => gzipSync(Buffer.from(file(3000, () => false).replace(/,(\d+)\.5,/g, (_m, d: string, offset: number) => (offset % 4 === 0 ? `,${d}.5,` : `,${d},5,`)))),
      first: /The first reject, line \d+: expected 6 fields, found 7$/,
      percent: undefined,
    },
  ])('$name: fails the job at the split, naming the rate, the first reject, and sending nothing', async ({ name, change, body, first, percent }) => {
    // Prepare
    const def = await registerDataset(p, { ...salesCsv(name), ...change, maxRejectedPercent: 5 });

    // Act
    const job = await uploadAndWait(p, `uploads/${name}/export.csv`, body());

    // Assess
    expect(job).toMatchObject({ status: 'failed', partitionsTotal: null, recordsRead: 0, failedOnRejects: false });
    expect(job.reason).toMatch(/^[\d.]+ % of the first 1,000 records rejected \(over the dataset's maxRejectedPercent of 5 %\): is the delimiter right\?/);
    expect(job.reason).toMatch(first);
    if (percent !== undefined) expect(job.reason).toMatch(new RegExp(`^${percent} % `));
    expect(await leftOf(name, def)).toEqual({ partial: 0, compacted: 0, answered: 0 });
  });
});

describe('a job whose rejects pass maxRejectedPercent after its sample', () => {
  it('ends failed with nothing in the rollups; retry refuses it; restart with a higher threshold re-runs it whole, counted once', async () => {
    // Prepare: 1,200 good records first (the sample passes), then every 3rd of the rest a reject.
    const bad = (i: number) => i >= 1200 && i % 3 === 0;
    const bytes = Buffer.from(file(3000, bad));
    const rejected = Array.from({ length: 3000 }, (_, i) => i).filter(bad).length;
    const def = await registerDataset(p, { ...salesCsv('late_rejects'), maxRejectedPercent: 10 });
    const independent = readCsvIndependently(bytes, def);
    const recovery = { db: p.db, queue: sqsPartitionQueue(p.sqs, p.stack.state.queues.partitions.url) };

    // Act
    const failed = await uploadAndWait(p, 'uploads/late_rejects/export.csv', bytes);
    // Time for the compactor pass the last partition starts after its commit (COMPACT_AFTER_JOB).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const left = await leftOf('late_rejects', def);
    const retry = await retryPartitions(recovery, failed.jobId).then(() => 'retried', (e: unknown) => e);
    await registerDataset(p, { ...salesCsv('late_rejects'), maxRejectedPercent: 25 });
    const restart = await restartIngestJob(recovery, failed.jobId);
    const done = await waitFor(async () => {
      const job = await getIngestJob(p.db, failed.jobId);
      return job?.status !== 'processing' ? job : undefined;
    }, 90_000, 'the restarted job');
    const rejects = await listRejects(p.db, failed.jobId, 10_000);

    // Assess
    const percent = ((rejected * 100) / 3000).toFixed(2);
    expect(rejected).toBe(independent.rejected);
    expect(failed).toMatchObject({ status: 'failed', failedOnRejects: true, maxRejectedPercent: 10, recordsRead: 3000, recordsRejected: rejected, partitionsFailed: 0 });
    expect(failed.reason).toMatch(
      new RegExp(`^${rejected} of 3000 records rejected \\(${percent} %\\), over the dataset's maxRejectedPercent of 10 %: the job failed and nothing of it is in the rollups \\(batchflow rejects ${failed.jobId} lists the rejects\\); the first: partition \\d+, line \\d+ of it: field "amount": "n/a" is not a number$`),
    );
    expect(left).toEqual({ partial: 0, compacted: 0, answered: 0 });
    expect(retry).toBeInstanceOf(RecoveryRefused);
    expect((retry as RecoveryRefused).message).toMatch(/failed on its reject threshold .*batchflow restart/);
    expect(restart.resent).toBe(failed.partitionsTotal);
    expect(done).toMatchObject({ status: 'completed_with_rejects', failedOnRejects: false, maxRejectedPercent: 25, recordsRead: 3000, recordsRejected: rejected, recordsAggregated: independent.good.length });
    expect(rejects).toHaveLength(rejected);
    expect((await compareQueries(p.db, def, independent.good, def.rollups)).problems).toEqual([]);
  });
});
