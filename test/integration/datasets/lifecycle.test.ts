import { describe, expect, it } from 'vitest';
import { parseAnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import { parseDatasetDefinition } from '../../../lib/datasets/definition.ts';
import { processPartition } from '../../../lib/process/processPartition.ts';
import { putAnalyticsJob } from '../../../lib/store/analytics.ts';
import { DatasetChangeRefusedError, deleteDataset, getDataset, putDataset } from '../../../lib/store/datasets.ts';
import { openIngestJob } from '../../../lib/store/ingestJobs.ts';
import { runAnalyticsJob } from '../../../lib/analytics/runAnalyticsJob.ts';
import { prepareCsv, processContext, salesCsv, uploadAndWait, usePipeline, type Pipeline } from '../pipeline/pipeline.ts';

const p = usePipeline('lifecycle');

/** Rows left under a dataset and its jobs in every table that holds them, counted table by table. */
async function leftOver(p: Pipeline, dataset: string, jobIds: readonly number[], analyticsJob: string): Promise<Record<string, number>> {
  const { sql } = p.db;
  const count = async (table: Parameters<Pipeline['db']['table']>[0], column: string, values: readonly (string | number)[]) => {
    if (values.length === 0) return 0;
    const [row] = await sql`select count(*)::int as n from ${p.db.table(table)} where ${sql(column)} in ${sql(values as (string | number)[])}`;
    return row!.n as number;
  };
  return {
    datasets: await count('datasets', 'name', [dataset]),
    rollups: await count('rollups', 'dataset', [dataset]),
    rollup_partials: await count('rollup_partials', 'dataset', [dataset]),
    batch_jobs: await count('batch_jobs', 'job_id', jobIds),
    batch_partitions: await count('batch_partitions', 'job_id', jobIds),
    rejected_records: await count('rejected_records', 'job_id', jobIds),
    performance_metrics: await count('performance_metrics', 'job_id', jobIds),
    analytics_jobs: await count('analytics_jobs', 'name', [analyticsJob]),
    analytics_results: await count('analytics_results', 'job', [analyticsJob]),
    analytics_runs: await count('analytics_runs', 'job', [analyticsJob]),
  };
}

const dailyByRegion = (dataset: string) =>
  parseAnalyticsJobDefinition({
    name: `${dataset}-daily`,
    enabled: true,
    schedule: 'EVERYDAY8AMET',
    dataset,
    entity: 'region',
    granularity: '1-day',
    metrics: [{ metric: 'amount', aggregations: ['sum', 'count'] }],
  });

describe('a dataset with data loaded', () => {
  it('refuses definition changes that would break its aggregates, naming each and how to proceed, and takes additions for new data', async () => {
    // Prepare
    const { def, file } = await prepareCsv(p, 'lc_change', { records: 600, seed: 5 });
    await uploadAndWait(p, 'uploads/lc_change/a.csv', file.bytes);
    const attempts = [
      { ...def, granularity: '1-day' },
      { ...def, dimensions: [...def.dimensions].reverse() },
      { ...def, metrics: def.metrics.slice(1) },
      { ...def, rollups: def.rollups.slice(1) },
    ].map((d) => parseDatasetDefinition(d));

    // Act
    const refusals = await Promise.all(attempts.map((d) => putDataset(p.db, d).then(() => undefined, (err: unknown) => err)));
    const stored = await getDataset(p.db, def.name);
    const added = await putDataset(p.db, parseDatasetDefinition({ ...def, metrics: [...def.metrics, 'discount'] }));

    // Assess
    expect(refusals.every((r) => r instanceof DatasetChangeRefusedError)).toBe(true);
    expect((refusals as Error[]).map((r) => r.message)).toEqual([
      expect.stringContaining('granularity 1-hour → 1-day: stored buckets are 1-hour wide'),
      expect.stringContaining(`dimensions reordered ("${def.dimensions.join('", "')}" → "${[...def.dimensions].reverse().join('", "')}")`),
      expect.stringContaining(`metric(s) "${def.metrics[0]}" removed`),
      expect.stringContaining(`rollup(s) [${def.rollups[0]!.join(',')}] removed`),
    ]);
    expect((refusals[0] as Error).message).toContain('define a new dataset (another name), or delete this one with its data (batchflow datasets delete lc_change)');
    expect(stored).toEqual(def);
    expect(added).toEqual({ created: false, newDataOnly: ['metric(s) "discount" added: stored buckets have no values for them'] });
  });

  it('accepts any change before data is loaded', async () => {
    // Prepare
    const def = parseDatasetDefinition(salesCsv('lc_empty'));
    await putDataset(p.db, def);

    // Act
    const outcome = await putDataset(p.db, parseDatasetDefinition({ ...salesCsv('lc_empty'), granularity: '1-day' }));

    // Assess
    expect(outcome.created).toBe(false);
    expect((await getDataset(p.db, 'lc_empty'))?.granularity).toBe('1-day');
  });
});

describe('deleting a dataset', () => {
  it('is refused while an analytics job reads it, and with --force removes everything loaded under it', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'lc_delete', { records: 1500, seed: 11, badRows: 4 });
    const first = await uploadAndWait(p, 'uploads/lc_delete/a.csv', file.bytes);
    const second = await uploadAndWait(p, 'uploads/lc_delete/b.csv', file.bytes);
    const job = dailyByRegion('lc_delete');
    await putAnalyticsJob(p.db, job);
    await runAnalyticsJob(p.db, job.name, new Date('2024-03-20T12:00:00Z'), 'manual');
    const before = await leftOver(p, 'lc_delete', [first.jobId, second.jobId], job.name);

    // Act
    const refused = await deleteDataset(p.db, 'lc_delete');
    const afterRefusal = await leftOver(p, 'lc_delete', [first.jobId, second.jobId], job.name);
    const forced = await deleteDataset(p.db, 'lc_delete', { force: true });
    const after = await leftOver(p, 'lc_delete', [first.jobId, second.jobId], job.name);
    const again = await deleteDataset(p.db, 'lc_delete');

    // Assess
    expect(before).toMatchObject({ datasets: 1, batch_jobs: 2, analytics_jobs: 1, analytics_runs: 1 });
    expect(before.rollups + before.rollup_partials).toBeGreaterThan(0);
    expect(before.batch_partitions).toBe(first.partitionsTotal! + second.partitionsTotal!);
    expect(before.rejected_records).toBe(8);
    expect(refused).toEqual({ refused: 'in-use', message: `dataset "lc_delete" is in use: analytics job(s) "${job.name}" read it (delete them with batchflow analytics delete <name>); or pass --force to delete them with it` });
    // Aggregate rows move from partial to compacted meanwhile (the compactor after each job); the rest stays.
    const { rollups: _r, rollup_partials: _p, ...kept } = before;
    expect(afterRefusal).toMatchObject(kept);
    // The compactor may be moving partial rows into rollups meanwhile, so only the total's sign is fixed.
    expect(forced).toEqual({ ingestJobs: 2, aggregateRows: expect.any(Number), analyticsJobs: [job.name] });
    expect(forced.refused === undefined && forced.aggregateRows).toBeGreaterThan(0);
    expect(Object.values(after).every((n) => n === 0), JSON.stringify(after)).toBe(true);
    expect(again).toEqual({ refused: 'not-found', message: 'no dataset named "lc_delete"' });
  });

  it('is refused while one of its jobs runs; forced, the job goes and its in-flight partitions are dropped', async () => {
    // Prepare: a job as the splitter leaves it mid-split.
    await putDataset(p.db, parseDatasetDefinition(salesCsv('lc_running')));
    const { job: running } = await openIngestJob(p.db, { dataset: 'lc_running', bucket: p.bucket, key: 'uploads/lc_running/a.csv', objectVersion: 'v1', objectSize: 100, partitionBytes: 8192 });

    // Act
    const refused = await deleteDataset(p.db, 'lc_running');
    const forced = await deleteDataset(p.db, 'lc_running', { force: true });
    const inFlight = await processPartition(processContext(p), { v: 1, jobId: running.jobId, idx: 0 } as never);

    // Assess
    expect(refused).toMatchObject({ refused: 'in-use', message: expect.stringContaining(`ingestion job(s) ${running.jobId} still running (stop them with batchflow stop <jobId>)`) });
    expect(forced).toMatchObject({ ingestJobs: 1, analyticsJobs: [] });
    expect(inFlight).toEqual({ jobId: running.jobId, idx: 0, status: 'skipped', reason: `job ${running.jobId} was deleted` });
  });
});
