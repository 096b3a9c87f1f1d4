import { gzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { listDatasets } from '../../../lib/store/datasets.ts';
import { listRejects } from '../../../lib/store/rejects.ts';
import { compareQueries, readCsvIndependently } from './expected.ts';
import { listKeys, registerDataset, salesCsv, upload, usePipeline, waitForJob } from './pipeline.ts';
import { CSV_COLUMNS, generateCsv } from './records.ts';

// A failed invocation comes back after the queue's visibility timeout (30 minutes as deployed): 30 s
// here, so one that fails on a loaded machine (a CI run once waited out its 150 s on one) is
// retried within the wait, and a job that still does not finish is reported by waitForJob.
const p = usePipeline('dialect', { queueOverrides: { ingest: { visibilityTimeoutSeconds: 30 }, partitions: { visibilityTimeoutSeconds: 30 } } });

/**
 * records.ts's file (comma, CRLF, bad rows of every kind) rewritten in another dialect: each record
 * as csv-parse reads it, its fields joined by `delimiter`, quoted in `quote` when they hold a
 * delimiter, quote or line break, records ended by `lineEnd`; `preamble` lines first, the header
 * left out when `header` is false.
 */
function rewritten(
  options: { records: number; seed: number; badRows: number },
  d: { delimiter: string; quote: string; escape?: string; lineEnd: string; preamble: string[]; header: boolean },
): Buffer {
  const source = generateCsv({ ...options, bom: false });
  const [header, ...rows] = parse(source.bytes, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  const special = (f: string) => f.includes(d.delimiter) || f.includes(d.quote) || f.includes('\r') || f.includes('\n') || (d.escape !== undefined && f.includes(d.escape));
  const escaped = (f: string) => (d.escape ? [...f].map((c) => (c === d.quote || c === d.escape ? d.escape + c : c)).join('') : f.replaceAll(d.quote, d.quote + d.quote));
  const field = (f: string) => (special(f) ? `${d.quote}${escaped(f)}${d.quote}` : f);
  const lines = [...d.preamble, ...(d.header ? [header] : []), ...rows].map((r) => (typeof r === 'string' ? r : r.map(field).join(d.delimiter)));
  return Buffer.from(lines.map((l) => l + d.lineEnd).join(''), 'utf8');
}

/** Uploads and waits for the job, allowing for the local functions' cold start on a loaded machine. */
async function ingest(key: string, bytes: Buffer) {
  await upload(p, key, bytes);
  return waitForJob(p, key, p.bucket, 150_000);
}

describe('CSV dialects through the pipeline', () => {
  it('reads a semicolon file with single quotes, CR-alone line ends and a title line before the header, as csv-parse does', async () => {
    // Prepare
    const def = await registerDataset(p, { ...salesCsv('semicolons'), delimiter: ';', quote: "'", skipRows: 1 });
    const bytes = rewritten({ records: 3000, seed: 1201, badRows: 14 }, { delimiter: ';', quote: "'", lineEnd: '\r', preamble: ['Sales export; March 2024'], header: true });
    const independent = readCsvIndependently(bytes, def, { parse: { delimiter: ';', quote: "'", escape: "'", record_delimiter: '\r', from_line: 2 } });

    // Act
    const job = await ingest('uploads/semicolons/export.csv', bytes);
    const rejects = await listRejects(p.db, job.jobId);
    const { problems, rows } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', lineEnd: 'cr', headerLines: 2, columns: [...CSV_COLUMNS], reason: null });
    // What `batchflow datasets list --json` prints: the stored definition, its dialect filled in.
    expect((await listDatasets(p.db)).find((d) => d.name === 'semicolons')).toMatchObject({ delimiter: ';', quote: "'", escape: "'", header: true, skipRows: 1 });
    expect(job.partitionsTotal).toBeGreaterThanOrEqual(10);
    expect(job.partitionsDone).toBe(job.partitionsTotal);
    expect(job.recordsAggregated).toBe(independent.good.length);
    expect(job.recordsRejected).toBe(independent.rejected);
    expect(independent.rejected).toBe(14);
    expect(rejects).toHaveLength(14);
    expect(problems).toEqual([]);
    expect(rows).toBeGreaterThan(1000);
  });

  it('reads a header-less TSV named by columns, plain and gzipped (the splitter\'s cutter), as csv-parse does', async () => {
    // Prepare
    const columns = [...CSV_COLUMNS];
    const definition = { delimiter: '\t', header: false, columns };
    const plainDef = await registerDataset(p, { ...salesCsv('tabs'), ...definition });
    const zippedDef = await registerDataset(p, { ...salesCsv('tabs_gz'), ...definition });
    const bytes = rewritten({ records: 2500, seed: 1202, badRows: 7 }, { delimiter: '\t', quote: '"', lineEnd: '\n', preamble: [], header: false });
    const independent = readCsvIndependently(bytes, plainDef, { parse: { delimiter: '\t' }, columns });

    // Act
    const plain = await ingest('uploads/tabs/export.tsv', bytes);
    const zipped = await ingest('uploads/tabs_gz/export.tsv.gz', gzipSync(bytes));
    const plainResult = await compareQueries(p.db, plainDef, independent.good, plainDef.rollups);
    const zippedResult = await compareQueries(p.db, zippedDef, independent.good, zippedDef.rollups);

    // Assess
    for (const job of [plain, zipped]) {
      expect(job).toMatchObject({ status: 'completed_with_rejects', lineEnd: 'lf', headerLines: 0, columns, reason: null });
      expect(job.partitionsTotal).toBeGreaterThanOrEqual(10);
      expect(job.recordsAggregated).toBe(independent.good.length);
      expect(job.recordsRejected).toBe(independent.rejected);
    }
    expect(plain.dataStart).toBe(0);
    expect(independent.rejected).toBe(7);
    expect(plainResult.problems).toEqual([]);
    expect(zippedResult.problems).toEqual([]);
  });

  it('reads a file whose quotes a backslash escapes, split by streaming into staged parts, as csv-parse does', async () => {
    // Prepare
    const def = await registerDataset(p, { ...salesCsv('backslashes'), escape: '\\' });
    const bytes = rewritten({ records: 2500, seed: 1203, badRows: 7 }, { delimiter: ',', quote: '"', escape: '\\', lineEnd: '\n', preamble: [], header: true });
    const independent = readCsvIndependently(bytes, def, { parse: { escape: '\\' } });

    // Act
    const job = await ingest('uploads/backslashes/export.csv', bytes);
    const staged = await listKeys(p, `staging/${job.jobId}/`);
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(bytes.includes('\\"')).toBe(true);
    expect(job).toMatchObject({ status: 'completed_with_rejects', compression: 'none', dataStart: 0, reason: null });
    expect(job.partitionsTotal).toBeGreaterThanOrEqual(10);
    expect(staged).toHaveLength(job.partitionsTotal!);
    expect(job.recordsAggregated).toBe(independent.good.length);
    expect(job.recordsRejected).toBe(independent.rejected);
    expect(independent.rejected).toBe(7);
    expect(problems).toEqual([]);
  });
});
