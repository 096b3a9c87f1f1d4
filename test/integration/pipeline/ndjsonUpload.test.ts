import { describe, expect, it } from 'vitest';
import { listRejects } from '../../../lib/store/rejects.ts';
import { compareQueries } from './expected.ts';
import { putTunedSetting } from '../../../lib/store/performance.ts';
import { PARTITION_BYTES, registerDataset, uploadAndWait, usePipeline } from './pipeline.ts';
import { generateNdjson } from './records.ts';

const p = usePipeline('ndjson');

describe('an NDJSON upload', () => {
  it('answers every rollup at every granularity as the generated records do, and accounts for every bad line', async () => {
    // Prepare
    const def = await registerDataset(p, {
      name: 'events',
      format: 'ndjson',
      timeColumn: 'ts',
      timeFormat: 'epoch_s',
      granularity: '1-hour',
      dimensions: ['region', 'store'],
      metrics: ['amount', 'qty'],
    });
    const file = generateNdjson({ records: 1200, seed: 7, badRows: 10 });
    const key = 'uploads/events/day-1.ndjson';

    // Act
    const job = await uploadAndWait(p, key, file.bytes);
    const rejects = await listRejects(p.db, job.jobId);
    const { problems, rows } = await compareQueries(p.db, def, file.good, def.rollups);

    // Assess
    expect(def.rollups).toEqual([['region'], ['store'], []]);
    expect(job).toMatchObject({ status: 'completed_with_rejects', format: 'ndjson', reason: null });
    expect(job.partitionsTotal).toBeGreaterThanOrEqual(5);
    expect(job.partitionsDone).toBe(job.partitionsTotal);
    expect(job.recordsRejected).toBe(file.bad.length);
    expect(job.recordsAggregated).toBe(file.good.length);
    expect(job.recordsRead).toBe(job.recordsAggregated + job.recordsRejected);
    expect(rejects.map((r) => ({ line: r.line, byteOffset: r.byteOffset, raw: r.raw }))).toEqual(
      file.bad.map((b) => ({ line: b.line, byteOffset: b.offset, raw: b.raw })),
    );
    expect(rejects.map((r) => r.reason)).toEqual(file.bad.map((b) => expect.stringContaining(b.reasonNames)));
    expect(problems).toEqual([]);
    expect(rows).toBeGreaterThan(500);
  });

  it('is split at the partition size the tuner stored, recorded with its job', async () => {
    // Prepare
    await registerDataset(p, { name: 'tuned', format: 'ndjson', timeColumn: 'ts', timeFormat: 'epoch_s', granularity: '1-hour', dimensions: ['region'], metrics: ['amount'] });
    const file = generateNdjson({ records: 1200, seed: 8, badRows: 0 });
    const tunedBytes = 4 * PARTITION_BYTES;
    await putTunedSetting(p.db, 'partitionBytes', tunedBytes);

    // Act
    const job = await uploadAndWait(p, 'uploads/tuned/day-1.ndjson', file.bytes);
    await p.db.sql`delete from ${p.db.table('tuned_settings')}`;

    // Assess
    expect(job.partitionBytes).toBe(tunedBytes);
    // planByteRanges: whole steps of the partition size, the last absorbing the remainder.
    expect(job.partitionsTotal).toBe(Math.max(1, Math.floor(file.bytes.length / tunedBytes)));
    expect(job.recordsAggregated).toBe(file.good.length);
  });
});

