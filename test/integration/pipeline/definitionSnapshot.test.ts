import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseDatasetDefinition, type DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { cachedJobDefinitions } from '../../../lib/process/definitionCache.ts';
import type { PartitionMessage } from '../../../lib/process/partitionMessage.ts';
import { processPartition, type ProcessContext } from '../../../lib/process/processPartition.ts';
import { queryRollups } from '../../../lib/query/queryRollups.ts';
import { getDataset, putDataset } from '../../../lib/store/datasets.ts';
import { getIngestJob, getJobDefinition, openIngestJob } from '../../../lib/store/ingestJobs.ts';
import { compareQueries, readCsvIndependently } from './expected.ts';
import { createHeld, type Held, PARTITION_BYTES, processContext, salesCsv, splitHeld, uploadAndWait, usePipeline, type Pipeline } from './pipeline.ts';
import { generateCsv } from './records.ts';

/**
 * A running job keeps the dataset definition it opened with (batch_jobs.definition, migration 17):
 * a `datasets put` between the split and the processing of its partitions applies to the next
 * upload only. The functions are driven step by step (splitHeld, processPartition) so the put
 * lands while every partition is in flight. Expectations come from the files, read by csv-parse
 * under the definition each job should have used (expected.ts).
 */
const p = usePipeline('snapshot', { httpApiPort: 0 });

let heldStarted: Promise<Held> | undefined;
/** The file's held bucket and queues, created once (their names are the stage's). */
const heldOnce = () => (heldStarted ??= createHeld(p));

/** v1: the sales dataset with one metric and without the [region, product] rollup; v2 adds both (allowed once data is loaded). */
function versions(name: string): { v1: DatasetDefinition; v2: DatasetDefinition } {
  const v2 = parseDatasetDefinition(salesCsv(name));
  const v1 = parseDatasetDefinition({ ...salesCsv(name), metrics: ['amount'], rollups: [['region'], ['product'], []] });
  return { v1, v2 };
}

/** A processor container's context whose definition reads are counted (the store function, wrapped). */
function countingContext(p: Pipeline): { ctx: ProcessContext; reads: () => number } {
  let reads = 0;
  const ctx = {
    ...processContext(p),
    definitions: cachedJobDefinitions((jobId) => {
      reads++;
      return getJobDefinition(p.db, jobId);
    }),
  };
  return { ctx, reads: () => reads };
}

/** Cells stored under a dataset (compacted or partial) holding a metric, or under a rollup. */
async function storedCells(p: Pipeline, dataset: string, where: { metric?: string; rollup?: string }): Promise<number> {
  const { sql } = p.db;
  const [row] = await sql`
    select
      (select count(*) from ${p.db.table('rollups')} where dataset = ${dataset}
         and ${where.metric === undefined ? sql`true` : sql`metric = ${where.metric}`}
         and ${where.rollup === undefined ? sql`true` : sql`rollup = ${where.rollup}`})
      + (select count(*) from ${p.db.table('rollup_partials')} where dataset = ${dataset}
         and ${where.metric === undefined ? sql`true` : sql`${where.metric} = any(metrics)`}
         and ${where.rollup === undefined ? sql`true` : sql`rollup = ${where.rollup}`}) as n`;
  return Number(row!.n);
}

/**
 * Opens the job of `bytes` under `key` in the held bucket as the first delivery of its notification
 * would, before the split: the held bucket is unversioned, so the version is the ETag, the MD5 of a
 * single PUT's bytes (splitHeld's own delivery then finds this job).
 */
async function openBeforeSplit(p: Pipeline, held: Held, dataset: string, key: string, bytes: Buffer) {
  const md5 = createHash('md5').update(bytes).digest('hex');
  const { job } = await openIngestJob(p.db, { dataset, bucket: held.bucket, key, objectVersion: md5, eTag: md5, objectSize: bytes.length, partitionBytes: PARTITION_BYTES });
  return job;
}

/** Processes messages one after another in one context. */
async function processAll(ctx: ProcessContext, messages: readonly PartitionMessage[]) {
  const outcomes = [];
  for (const m of messages) outcomes.push(await processPartition(ctx, m));
  return outcomes;
}

async function getJson(p: Pipeline, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL(path, p.stack.httpApi!.url));
  return { status: res.status, body: await res.json() };
}

describe('a job keeps the definition it opened with', () => {
  it('aggregates every partition with it when the dataset gains a metric and a rollup mid-job; the next upload gets them', async () => {
    // Prepare: v1 registered, the file split, every partition in flight.
    const { v1, v2 } = versions('snap_mid');
    await putDataset(p.db, v1);
    const held = await heldOnce();
    const first = generateCsv({ records: 1500, seed: 21, badRows: 12 });
    const { outcome, messages } = await splitHeld(p, held, 'uploads/snap_mid/a.csv', first.bytes);
    const opened = (await getIngestJob(p.db, outcome.jobId!))!;
    const [same] = await p.db.sql`
      select j.definition = d.definition as same from ${p.db.table('batch_jobs')} j join ${p.db.table('datasets')} d on d.name = j.dataset
      where j.job_id = ${outcome.jobId}`;
    const containerA = countingContext(p);
    const containerB = countingContext(p);

    // Act: one partition before the put, the rest after it, shared by two containers.
    const before = await processPartition(containerA.ctx, messages[0]!);
    const put = await putDataset(p.db, v2);
    const after = [];
    for (const [i, m] of messages.slice(1).entries()) after.push(await processPartition((i % 2 === 0 ? containerA : containerB).ctx, m));
    const job = (await getIngestJob(p.db, outcome.jobId!))!;
    const firstOnly = readCsvIndependently(first.bytes, v1);
    const queriedV1 = await compareQueries(p.db, v1, firstOnly.good, v1.rollups);
    const quantityRows = await queryRollups(p.db, v2, { granularity: '1-day', by: ['region'], metrics: ['quantity'] });
    const pairRows = await queryRollups(p.db, v2, { granularity: '1-day', by: ['region', 'product'] });
    const cells = { quantity: await storedCells(p, 'snap_mid', { metric: 'quantity' }), pair: await storedCells(p, 'snap_mid', { rollup: 'product,region' }) };

    // A second upload, through the whole stack, after the put.
    const second = generateCsv({ records: 1200, seed: 22, badRows: 9 });
    const next = await uploadAndWait(p, 'uploads/snap_mid/b.csv', second.bytes);
    const secondOnly = readCsvIndependently(second.bytes, v2);
    // amount: both files, in v2's first rollups; quantity and the [region, product] rollup: the second file only.
    const amount = await compareQueries(p.db, { ...v2, metrics: ['amount'] }, [...firstOnly.good, ...secondOnly.good], v1.rollups);
    const added = await compareQueries(p.db, { ...v2, metrics: ['quantity'] }, secondOnly.good, v1.rollups);
    const pair = await compareQueries(p.db, v2, secondOnly.good, [['region', 'product']]);

    // Assess
    expect(messages.length).toBeGreaterThan(4);
    expect(opened.definition).toEqual(v1);
    expect(same?.same).toBe(true);
    expect(put.newDataOnly).toEqual([expect.stringContaining('metric(s) "quantity" added'), expect.stringContaining('rollup(s) [region,product] added')]);
    expect([before, ...after].map((o) => o.status)).toEqual(messages.map(() => 'merged'));
    // Rejects as v1 reads the file: a bad quantity is no reject under v1, where quantity is not a metric.
    expect(firstOnly.rejected).toBeLessThan(12);
    expect(job).toMatchObject({ status: 'completed_with_rejects', recordsRejected: firstOnly.rejected, recordsRead: firstOnly.good.length + firstOnly.rejected, definition: v1 });
    expect(queriedV1.problems).toEqual([]);
    expect(queriedV1.rows).toBeGreaterThan(0);
    expect({ quantityRows: quantityRows.length, pairRows: pairRows.length, cells }).toEqual({ quantityRows: 0, pairRows: 0, cells: { quantity: 0, pair: 0 } });
    // One definition read per container for all of the job's partitions.
    expect([containerA.reads(), containerB.reads()]).toEqual([1, 1]);
    expect(await getDataset(p.db, 'snap_mid')).toEqual(v2);
    expect(next).toMatchObject({ status: 'completed_with_rejects', recordsRejected: secondOnly.rejected, definition: v2 });
    expect(amount.problems).toEqual([]);
    expect(added.problems).toEqual([]);
    expect(pair.problems).toEqual([]);
    expect(Math.min(amount.rows, added.rows, pair.rows)).toBeGreaterThan(0);
  });

  it('splits with it when the dialect changes between the job’s opening and its split (a redelivered notification)', async () => {
    // Prepare: the job opened (as a first delivery of the notification does) with v1, comma-separated;
    // then the dataset redefined as semicolon-separated, a change allowed at any time.
    const { v1 } = versions('snap_split');
    await putDataset(p.db, v1);
    const held = await heldOnce();
    const file = generateCsv({ records: 900, seed: 25, badRows: 6 });
    const key = 'uploads/snap_split/a.csv';
    const opened = await openBeforeSplit(p, held, 'snap_split', key, file.bytes);
    await putDataset(p.db, parseDatasetDefinition({ ...v1, delimiter: ';' }));

    // Act: the split (a second delivery finds the job still splitting), then every partition.
    const { outcome, messages } = await splitHeld(p, held, key, file.bytes);
    const outcomes = await processAll(processContext(p), messages);
    const job = (await getIngestJob(p.db, opened.jobId))!;
    const expected = readCsvIndependently(file.bytes, v1);
    const queried = await compareQueries(p.db, v1, expected.good, v1.rollups);

    // Assess: read as a ';' file, the header would lack every column and the job would fail.
    expect(outcome).toMatchObject({ jobId: opened.jobId, status: 'split' });
    expect(outcomes.every((o) => o.status === 'merged')).toBe(true);
    expect(job).toMatchObject({ status: 'completed_with_rejects', recordsRejected: expected.rejected, columns: ['ts', 'region', 'note', 'product', 'amount', 'quantity'], definition: v1 });
    expect(queried.problems).toEqual([]);
    expect(queried.rows).toBeGreaterThan(0);
  });

  it('shows the snapshot in GET /api/batch-jobs/{id}, not in the list’s items', async () => {
    // Prepare
    const { v1, v2 } = versions('snap_api');
    await putDataset(p.db, v1);
    const file = generateCsv({ records: 300, seed: 23 });
    const job = await uploadAndWait(p, 'uploads/snap_api/a.csv', file.bytes);
    await putDataset(p.db, v2);

    // Act
    const one = await getJson(p, `/api/batch-jobs/${job.jobId}`);
    const list = await getJson(p, '/api/batch-jobs?dataset=snap_api');

    // Assess: the definition as registered (JSON of the parsed v1), after v2 replaced it.
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ jobId: job.jobId, status: 'completed', definition: JSON.parse(JSON.stringify(v1)) });
    expect(list.body.items.map((i: Record<string, unknown>) => [i.jobId, 'definition' in i])).toEqual([[job.jobId, false]]);
  });

  it('completes a job opened before snapshots were kept (definition null) with the current definition, as before', async () => {
    // Prepare: the job opened as the splitter would open it, then its snapshot removed, as in a
    // job recorded before migration 17.
    const { v1, v2 } = versions('snap_old');
    await putDataset(p.db, v1);
    const held = await heldOnce();
    const file = generateCsv({ records: 900, seed: 24, badRows: 9 });
    const key = 'uploads/snap_old/a.csv';
    const old = await openBeforeSplit(p, held, 'snap_old', key, file.bytes);
    await p.db.sql`update ${p.db.table('batch_jobs')} set definition = null where job_id = ${old.jobId}`;

    // Act: split (with v1, the current one), then v2 put, then the partitions (with v2, the current one).
    const { outcome, messages } = await splitHeld(p, held, key, file.bytes);
    await putDataset(p.db, v2);
    const outcomes = await processAll(processContext(p), messages);
    const job = (await getIngestJob(p.db, old.jobId))!;
    const expected = readCsvIndependently(file.bytes, v2);
    const queried = await compareQueries(p.db, v2, expected.good, v2.rollups);

    // Assess
    expect(outcome.jobId).toBe(old.jobId);
    expect(outcomes.every((o) => o.status === 'merged')).toBe(true);
    expect(job).toMatchObject({ status: 'completed_with_rejects', recordsRejected: expected.rejected, definition: null });
    expect(queried.problems).toEqual([]);
    expect(queried.rows).toBeGreaterThan(0);
  });
});
