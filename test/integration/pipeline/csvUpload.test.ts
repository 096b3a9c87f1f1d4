import { describe, expect, it } from 'vitest';
import { listRejects } from '../../../lib/store/rejects.ts';
import { compareQueries } from './expected.ts';
import { prepareCsv, uploadAndWait, usePipeline } from './pipeline.ts';

const p = usePipeline('csv');

describe('a CSV upload', () => {
  it('answers every rollup at every granularity as csv-parse and plain arithmetic do over the same file, and accounts for every bad row', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'sales', { records: 3000, seed: 20240301, badRows: 21, blankLines: 3, finalLineEnd: false });
    const key = 'uploads/sales/2024-03 export.csv';

    // Act
    const job = await uploadAndWait(p, key, file.bytes);
    const rejects = await listRejects(p.db, job.jobId);
    const { problems, rows } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(independent.good).toEqual(file.good);
    expect(independent.rejected).toBe(file.bad.length);
    expect(job).toMatchObject({ status: 'completed_with_rejects', format: 'csv', compression: 'none', reason: null });
    expect(job.partitionsTotal).toBeGreaterThanOrEqual(10);
    expect(job.partitionsDone).toBe(job.partitionsTotal);
    expect(job.recordsRejected).toBe(file.bad.length);
    expect(job.recordsAggregated).toBe(independent.good.length);
    expect(job.recordsRead).toBe(job.recordsAggregated + job.recordsRejected);
    expect(rejects.map((r) => ({ line: r.line, byteOffset: r.byteOffset, raw: r.raw }))).toEqual(
      file.bad.map((b) => ({ line: b.line, byteOffset: b.offset, raw: b.raw })),
    );
    expect(rejects.map((r) => r.reason)).toEqual(file.bad.map((b) => expect.stringContaining(b.reasonNames)));
    expect(problems).toEqual([]);
    expect(rows).toBeGreaterThan(1000);
  });
});
