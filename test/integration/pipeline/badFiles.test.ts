import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { findIngestJobByObject } from '../../../lib/store/ingestJobs.ts';
import { listRejects } from '../../../lib/store/rejects.ts';
import { waitFor } from '../localstack/support.ts';
import { compareQueries, readCsvIndependently } from './expected.ts';
import { countRows, createHeld, functionStats, splitHeld, MAX_RECORD_BYTES, registerDataset, salesCsv, sendBodies, upload, uploadAndWait, usePipeline, waitForEmptyQueue } from './pipeline.ts';
import { CSV_COLUMNS, generateCsv } from './records.ts';

/**
 * The file-level part of the bad-input corpus: objects and keys as users and S3 produce them that
 * the pipeline must not choke on. Each ends its job (or makes none, for keys that are not uploads),
 * with a reason that names the problem; the good records of a file that has some are exact, as
 * csv-parse reads them. The expectations are written from the inputs, not read back from the code.
 */

/** Decompressed bytes a gzip may expand to before its job fails (small here, so the bomb is quick). */
const MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024;

const p = usePipeline('bad-files', { environment: { MAX_DECOMPRESSED_BYTES: String(MAX_DECOMPRESSED_BYTES) } });

const header = `${CSV_COLUMNS.join(',')}\r\n`;
const row = (i: number) => `2024-03-0${1 + (i % 9)}T10:00:00Z,north,n${i},Widget,${(i % 50) + 0.25},${1 + (i % 7)}\r\n`;
const rows = (from: number, count: number) => Array.from({ length: count }, (_, i) => row(from + i)).join('');

/** A dataset of its own per case, so each case's rollups are compared alone. */
async function dataset(name: string) {
  return registerDataset(p, salesCsv(name));
}

describe('a file the pipeline cannot read ends its job failed, naming why', () => {
  const cases: { name: string; body: () => Buffer; reason: RegExp }[] = [
    { name: 'empty', body: () => Buffer.alloc(0), reason: /empty/ },
    { name: 'duplicate-header', body: () => Buffer.from(`ts,region,region,note,product,amount,quantity\r\n${rows(0, 3)}`), reason: /duplicate column name "region"/ },
    {
      name: 'huge-header',
      body: () => Buffer.from(`${CSV_COLUMNS.join(',')},${'x'.repeat(300 * 1024)}\r\n${rows(0, 3)}`),
      reason: new RegExp(`no end of the CSV header within the first ${MAX_RECORD_BYTES} bytes`),
    },
    {
      name: 'utf32',
      // UTF-32LE by its byte order mark (UTF-16 with one is read: encodings.test.ts).
      body: () => Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from(header + rows(0, 20), 'utf16le')]),
      reason: /UTF-32LE/,
    },
    { name: 'nul-bytes', body: () => Buffer.from(`ts,reg\u0000ion,note,product,amount,quantity\r\n${rows(0, 3)}`), reason: /NUL/ },
    { name: 'truncated-gzip', body: () => gzipSync(Buffer.from(header + rows(0, 5000))).subarray(0, 4000), reason: /not valid gzip/ },
    // 64 MiB of zeros gzip to 64 KB: a binary file, told apart at its first line.
    { name: 'gzip-of-zeros', body: () => gzipSync(Buffer.alloc(64 * 1024 * 1024)), reason: /NUL byte in its first line/ },
    // Valid records that expand past the limit: 16 MiB of rows in a few KB.
    {
      name: 'gzip-bomb',
      body: () => gzipSync(Buffer.from(header + row(1).repeat((16 * 1024 * 1024) / row(1).length))),
      reason: new RegExp(`decompressed past ${MAX_DECOMPRESSED_BYTES} bytes`),
    },
  ];

  for (const c of cases) {
    it(`${c.name}`, async () => {
      // Prepare
      await dataset(`bad_${c.name.replaceAll('-', '_')}`);
      const key = `uploads/bad_${c.name.replaceAll('-', '_')}/file.csv`;

      // Act
      const job = await uploadAndWait(p, key, c.body());
      const rollups = await countRows(p, 'rollups', { dataset: job.dataset ?? '' });

      // Assess
      expect(job.status).toBe('failed');
      expect(job.reason).toMatch(c.reason);
      expect(job.reason).not.toContain('\u0000');
      expect({ read: job.recordsRead, rollups }).toEqual({ read: 0, rollups: 0 });
    });
  }
});

describe('a file with only some bad parts', () => {
  it('with a header and no records completes with nothing read', async () => {
    // Prepare
    await dataset('header_only');

    // Act
    const job = await uploadAndWait(p, 'uploads/header_only/file.csv', Buffer.from(header));

    // Assess
    expect(job).toMatchObject({ status: 'completed', recordsRead: 0, recordsRejected: 0 });
  });

  it('with one line far over the record limit rejects that line only; the rest is exact', async () => {
    // Prepare: the line spans several partitions, each of which starts inside it.
    const def = await dataset('long_line');
    const long = `2024-03-04T10:00:00Z,north,${'x'.repeat(50 * MAX_RECORD_BYTES)},Widget,1.00,1\r\n`;
    const body = Buffer.from(header + rows(0, 400) + long + rows(400, 400));
    const independent = readCsvIndependently(Buffer.from(header + rows(0, 800)), def);

    // Act
    const job = await uploadAndWait(p, 'uploads/long_line/file.csv', body);
    const rejects = await listRejects(p.db, job.jobId);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(independent.good).toHaveLength(800);
    expect(job).toMatchObject({ status: 'completed_with_rejects', recordsRead: 801, recordsAggregated: 800, recordsRejected: 1 });
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ line: 402, byteOffset: Buffer.byteLength(header + rows(0, 400)) });
    expect(rejects[0]!.reason).toContain(String(MAX_RECORD_BYTES));
    expect(problems).toEqual([]);
  });

  it('with bytes that are not UTF-8 in a dimension ends its job with every record accounted for', async () => {
    // Prepare: 0xC3 0x28 is an invalid two-byte sequence, as a Latin-1 export can leave behind.
    await dataset('latin1');
    const bad = Buffer.concat([Buffer.from('2024-03-04T10:00:00Z,'), Buffer.from([0x6e, 0xc3, 0x28, 0x72]), Buffer.from(',n,Widget,1.00,1\r\n')]);
    const body = Buffer.concat([Buffer.from(header + rows(0, 50)), bad, Buffer.from(rows(50, 50))]);

    // Act
    const job = await uploadAndWait(p, 'uploads/latin1/file.csv', body);

    // Assess
    expect(job.status).toMatch(/^completed/);
    expect(job.recordsRead).toBe(101);
    expect(job.recordsAggregated + job.recordsRejected).toBe(101);
  });
});

describe('object keys as S3 spells them', () => {
  const keys = ['uploads/keys/with space.csv', 'uploads/keys/a+b=c&d.csv', 'uploads/keys/売上 2024年3月.csv', 'uploads/keys/../keys/dots.csv', "uploads/keys/it's 100%.csv"];

  it('ingests every file whose key has spaces, +, CJK, ../ or %, under exactly its key', async () => {
    // Prepare
    const def = await dataset('keys');
    const bodies = keys.map((_, i) => Buffer.from(header + rows(i * 100, 100)));
    const independent = readCsvIndependently(Buffer.from(header + rows(0, keys.length * 100)), def);

    // Act
    const jobs = await Promise.all(keys.map((key, i) => uploadAndWait(p, key, bodies[i]!)));
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(jobs.map((j) => [j.key, j.status, j.recordsAggregated])).toEqual(keys.map((key) => [key, 'completed', 100]));
    expect(problems).toEqual([]);
  });

  it('makes no job for a folder marker, and drops a notification whose key is not URL-encoded without retrying it', async () => {
    // Prepare
    await dataset('folders');
    const ingest = p.stack.state.queues.ingest;
    const splitter = functionStats(p, 'splitter');
    await waitForEmptyQueue(p, ingest.url);
    const before = { succeeded: splitter.succeededRecords, failed: splitter.failedRecords };
    // S3 encodes % as %25: a lone % followed by non-hex can only come from something else.
    const undecodable = JSON.stringify({
      Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: p.bucket }, object: { key: 'uploads/folders/bad%E0%A4%A.csv', size: 10, eTag: 'e1' } } }],
    });

    // Act
    await upload(p, 'uploads/folders/', Buffer.alloc(0));
    await sendBodies(p, ingest.url, [undecodable]);
    await waitFor(async () => splitter.succeededRecords >= before.succeeded + 2, 60_000, 'the splitter to handle both notifications');
    await waitForEmptyQueue(p, ingest.url);
    const jobs = await countRows(p, 'batch_jobs', { dataset: 'folders' });
    const marker = await findIngestJobByObject(p.db, p.bucket, 'uploads/folders/');

    // Assess
    expect(jobs).toBe(0);
    expect(marker).toBeUndefined();
    expect(splitter.failedRecords).toBe(before.failed);
  });
});

describe('a gzip with a record over the record limit', () => {
  // The cutter keeps only the first bytes of such a record (lib/split/cutter.ts): each is one
  // reject, on its line, as in an uncompressed file, and the splitter's memory stays bounded.
  const longLine = `2024-03-04T10:00:00Z,north,${'x'.repeat(5 * 1024 * 1024)},Widget,1.00,1\r\n`;
  const cases = [
    { name: 'a 5 MB line among good rows', bad: longLine, after: true, reason: `record exceeds ${MAX_RECORD_BYTES} bytes` },
    { name: 'a record that never ends (3 MiB, no line end)', bad: '7'.repeat(3 * 1024 * 1024), after: false, reason: `record exceeds ${MAX_RECORD_BYTES} bytes` },
    {
      name: 'a quote left open at the end of the data (3 MiB after it)',
      bad: `2024-03-04T10:00:00Z,north,"oops${'z'.repeat(3 * 1024 * 1024)}`,
      after: false,
      reason: 'field "note": unterminated quoted field',
    },
    {
      name: 'a stray quote early in a large part, good rows after it',
      bad: '2024-03-04T10:00:00Z,north,"oops,Widget,1.00,1\r\n',
      after: true,
      reason: `field "note": quoted field "\\"oops,Widget,1.00,1" is not closed within ${MAX_RECORD_BYTES} bytes`,
    },
  ];

  it.each(cases)('$name: one reject naming its line and why; the rest exact', async ({ name, bad, after, reason }) => {
    // Prepare: 400 rows, the bad record on line 402, then 400 more when the record has an end.
    const dataset = `gzip_long_${cases.findIndex((c) => c.name === name)}`;
    const def = await registerDataset(p, salesCsv(dataset));
    const good = rows(0, 400) + (after ? rows(400, 400) : '');
    const body = gzipSync(Buffer.from(header + rows(0, 400) + bad + (after ? rows(400, 400) : '')));
    const independent = readCsvIndependently(Buffer.from(header + good), def);

    // Act
    const job = await uploadAndWait(p, `uploads/${dataset}/file.csv.gz`, body);
    const rejects = await listRejects(p.db, job.jobId);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', compression: 'gzip', recordsRead: independent.good.length + 1, recordsAggregated: independent.good.length, recordsRejected: 1 });
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ line: 402, raw: bad.replace(/\r\n$/, '').slice(0, 1000) });
    expect(rejects[0]!.reason).toContain(reason);
    expect(problems).toEqual([]);
  });
});

describe('a gzip that cannot be split before the invocation ends', () => {
  it('fails its job with the time named, instead of timing out and dead-lettering with the job splitting', async () => {
    // Prepare: an invocation with 25 s left, 5 of them spent while the object decompresses.
    await dataset('gzip_slow');
    const held = await createHeld(p);
    const body = gzipSync(Buffer.from(header + rows(0, 20_000)));
    let remainingMs = 25_000;
    const budget = { remainingMs: () => (remainingMs -= 1_000) };

    // Act
    const { outcome, messages } = await splitHeld(p, held, 'uploads/gzip_slow/file.csv.gz', body, budget);
    const job = await findIngestJobByObject(p.db, held.bucket, 'uploads/gzip_slow/file.csv.gz');

    // Assess
    expect(outcome.status).toBe('failed');
    expect(job).toMatchObject({ status: 'failed', recordsRead: 0 });
    expect(job!.reason).toMatch(/could not be split within the splitter's timeout: \d+ bytes decompressed/);
    expect(messages).toEqual([]);
  });
});

describe('a gzip under the decompressed limit', () => {
  it('is not confused with a bomb: what decompresses under the limit is ingested', async () => {
    // Prepare
    const def = await dataset('gzip_fits');
    const file = generateCsv({ records: 5_000, seed: 77 });
    const independent = readCsvIndependently(file.bytes, def);

    // Act
    const job = await uploadAndWait(p, 'uploads/gzip_fits/file.csv.gz', gzipSync(file.bytes));
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(file.bytes.length).toBeLessThan(MAX_DECOMPRESSED_BYTES);
    expect(job.compression).toBe('gzip');
    expect(job.recordsAggregated).toBe(independent.good.length);
    expect(problems).toEqual([]);
  });
});
