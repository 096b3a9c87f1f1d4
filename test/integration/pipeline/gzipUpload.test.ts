import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { listRejects } from '../../../lib/store/rejects.ts';
import { compareQueries } from './expected.ts';
import { countRows, listKeys, prepareCsv, registerDataset, salesCsv, upload, uploadAndWait, usePipeline, waitForJob } from './pipeline.ts';
import { generateCsv } from './records.ts';

const p = usePipeline('gzip');

describe('a gzip upload', () => {
  it('is staged in parts and answers every rollup as an independent computation over the uncompressed file does', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'zipped', { records: 2500, seed: 51, badRows: 7, blankLines: 2 });
    const key = 'uploads/zipped/export.csv.gz';

    // Act
    const job = await uploadAndWait(p, key, gzipSync(file.bytes));
    const staged = await listKeys(p, `staging/${job.jobId}/`);
    const rejects = await listRejects(p.db, job.jobId);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', compression: 'gzip', reason: null });
    expect(job.partitionsTotal).toBeGreaterThanOrEqual(10);
    expect(staged).toHaveLength(job.partitionsTotal!);
    expect(job.partitionsDone).toBe(job.partitionsTotal);
    expect(job.recordsAggregated).toBe(independent.good.length);
    expect(job.recordsRejected).toBe(file.bad.length);
    expect(job.recordsRead).toBe(job.recordsAggregated + job.recordsRejected);
    expect(rejects.map((r) => ({ line: r.line, raw: r.raw }))).toEqual(file.bad.map((b) => ({ line: b.line, raw: b.raw })));
    expect(problems).toEqual([]);
  });

  it('fails when the gzip is corrupt, naming gzip, and merges nothing', async () => {
    // Prepare
    await registerDataset(p, salesCsv('corrupt'));
    const zipped = gzipSync(generateCsv({ records: 2000, seed: 52 }).bytes);
    // The CRC-32 of the data sits 8 bytes from the end: every byte inflates, the check fails last.
    const badChecksum = Buffer.from(zipped);
    badChecksum[badChecksum.length - 8] ^= 0xff;
    const truncated = zipped.subarray(0, Math.floor(zipped.length * 0.6));
    const keys = ['uploads/corrupt/bad-checksum.csv.gz', 'uploads/corrupt/truncated.csv.gz'];

    // Act
    await upload(p, keys[0], badChecksum);
    await upload(p, keys[1], truncated);
    const jobs = await Promise.all(keys.map((key) => waitForJob(p, key)));
    const partitions = await Promise.all(jobs.map((job) => countRows(p, 'batch_partitions', { jobId: job.jobId })));
    const rollups = await countRows(p, 'rollups', { dataset: 'corrupt' });

    // Assess
    expect(jobs.map((job) => job.status)).toEqual(['failed', 'failed']);
    expect(jobs.map((job) => job.reason)).toEqual([expect.stringMatching(/gzip/), expect.stringMatching(/gzip/)]);
    expect(jobs.map((job) => job.recordsRead)).toEqual([0, 0]);
    expect(partitions).toEqual([0, 0]);
    expect(rollups).toBe(0);
  });
});
