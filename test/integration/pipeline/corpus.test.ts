import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import { runAnalyticsJob } from '../../../lib/analytics/runAnalyticsJob.ts';
import type { DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { checkAnalyticsJob } from '../../../lib/definitions/definitions.ts';
import { listResults, putAnalyticsJob } from '../../../lib/store/analytics.ts';
import type { IngestJob } from '../../../lib/store/ingestJobs.ts';
import { listRejects, type LocatedReject } from '../../../lib/store/rejects.ts';
import { resultDifferences, salesJob } from '../analytics/support.ts';
import { compareQueries, readCsvIndependently } from './expected.ts';
import { countRows, MAX_RECORD_BYTES, registerDataset, salesCsv, uploadAndWait, usePipeline } from './pipeline.ts';
import type { FlatRecord } from './records.ts';

/**
 * The bad-input corpus, part 3 (issue 10, item 11; index in test/fixtures/bad-inputs/README.md):
 * inputs users write — mixed line ends, BOMs, short and long rows, padded and grouped numbers,
 * non-object NDJSON lines, duplicate keys — and files as exporters and gzip leave them. Each
 * record case's outcome is written here by hand (the values of a good record, or the reason of a
 * reject); its line is counted from the texts. Record cases share one upload per format.
 */

// Partitions of 1 MiB (the other pipelines' are 8 KiB): a 5 MB line crosses a few, not 640.
const p = usePipeline('corpus', { environment: { PARTITION_BYTES: String(1 << 20) } });

/** One input of a records upload and what the pipeline must make of it. */
interface RecordCase {
  readonly name: string;
  /** The physical lines, line ends included (the last case may lack one). */
  readonly text: string;
  /** The records it holds, as a reader by hand sees them; none for a reject. */
  readonly good?: readonly FlatRecord[];
  /** A part of the reason its one reject must give. */
  readonly reject?: string;
  /** Records it holds (blank lines hold none); default: good's length, or 1 for a reject. */
  readonly records?: number;
}

const rec = (ts: string, region: string, product: string, amount?: number, quantity?: number): FlatRecord => ({
  timeMs: Date.parse(ts),
  dims: { region, product },
  metrics: { amount, quantity },
});

const CSV_CASES: readonly RecordCase[] = [
  { name: 'a CRLF line end', text: '2024-05-01T00:00:00Z,north,crlf,1.5,1\r\n', good: [rec('2024-05-01T00:00:00Z', 'north', 'crlf', 1.5, 1)] },
  { name: 'an LF line end among CRLF ones', text: '2024-05-01T01:00:00Z,north,lf,2.5,2\n', good: [rec('2024-05-01T01:00:00Z', 'north', 'lf', 2.5, 2)] },
  { name: 'a trailing delimiter', text: '2024-05-01T02:00:00Z,north,trailing,3,3,\n', reject: 'expected 5 fields, found 6' },
  { name: 'fewer fields than the header', text: '2024-05-01T02:00:00Z,north,fewer,3\n', reject: 'expected 5 fields, found 4' },
  { name: 'more fields than the header', text: '2024-05-01T02:00:00Z,north,more,3,3,9,9\r\n', reject: 'expected 5 fields, found 7' },
  { name: 'an empty metric', text: '2024-05-01T03:00:00Z,south,empty_amount,,4\n', good: [rec('2024-05-01T03:00:00Z', 'south', 'empty_amount', undefined, 4)] },
  { name: 'every metric empty', text: '2024-05-01T03:10:00Z,south,empty_both,,\n', good: [rec('2024-05-01T03:10:00Z', 'south', 'empty_both')] },
  { name: 'a whitespace-padded number', text: '2024-05-01T03:20:00Z,south,padded, 12.5 ,4\n', reject: 'field "amount": " 12.5 " is not a number' },
  { name: 'a thousands separator in a quoted number', text: '2024-05-01T03:30:00Z,south,grouped,"1,234",4\n', reject: 'field "amount": "1,234" is not a number' },
  { name: 'a thousands separator unquoted', text: '2024-05-01T03:40:00Z,south,grouped_bare,1,234,4\n', reject: 'expected 5 fields, found 6' },
  { name: 'blank lines, LF and CRLF', text: '\n\r\n\n', records: 0 },
  { name: 'a quoted field with line breaks', text: '2024-05-01T04:00:00Z,"east\nside\n",quoted_lf,5,5\n', good: [rec('2024-05-01T04:00:00Z', 'east\nside\n', 'quoted_lf', 5, 5)] },
  {
    name: 'a quoted field with a CRLF and escaped quotes',
    text: '2024-05-01T04:10:00Z,"say ""hi""\r\nthere",quoted_crlf,6,6\r\n',
    good: [rec('2024-05-01T04:10:00Z', 'say "hi"\r\nthere', 'quoted_crlf', 6, 6)],
  },
  { name: 'a CR alone between two records (not a line end)', text: '2024-05-01T05:00:00Z,west,cr,7,7\r2024-05-01T05:30:00Z,west,cr2,8,8\n', reject: 'expected 5 fields, found 9' },
  { name: 'a CR alone inside a dimension (data)', text: '2024-05-01T05:40:00Z,we\rst,cr_dim,7,7\n', good: [rec('2024-05-01T05:40:00Z', 'we\rst', 'cr_dim', 7, 7)] },
  {
    name: 'number spellings +5, .5, 5. and 1e3',
    text: '2024-05-01T06:00:00Z,west,plus,+5,.5\n2024-05-01T06:10:00Z,west,exp,5.,1e3\n',
    good: [rec('2024-05-01T06:00:00Z', 'west', 'plus', 5, 0.5), rec('2024-05-01T06:10:00Z', 'west', 'exp', 5, 1000)],
  },
  { name: 'a hexadecimal number', text: '2024-05-01T06:20:00Z,west,hex,0x10,1\n', reject: 'field "amount": "0x10" is not a number' },
  { name: 'a missing time', text: ',north,no_time,1,1\n', reject: 'missing time: field "ts" is empty' },
  { name: 'a date without a time (midnight UTC)', text: '2024-05-02,north,date_only,1,1\n', good: [rec('2024-05-02T00:00:00Z', 'north', 'date_only', 1, 1)] },
  { name: 'a time with a space and no zone (UTC)', text: '2024-05-01 07:00:00,north,space_ts,1,1\n', good: [rec('2024-05-01T07:00:00Z', 'north', 'space_ts', 1, 1)] },
  { name: 'a time with an offset', text: '2024-05-01T10:00:00+05:30,north,offset,1,1\n', good: [rec('2024-05-01T04:30:00Z', 'north', 'offset', 1, 1)] },
  { name: 'an impossible date', text: '2024-02-30T00:00:00Z,north,feb30,1,1\n', reject: 'field "ts": "2024-02-30T00:00:00Z" is not a valid iso timestamp' },
  { name: 'a space before the time', text: ' 2024-05-01T00:00:00Z,north,padded_ts,1,1\n', reject: 'field "ts": " 2024-05-01T00:00:00Z" is not a valid iso timestamp' },
  { name: 'non-ASCII and emoji dimensions', text: '2024-05-01T08:00:00Z,Zürich 🏔,売上,1,1\n', good: [rec('2024-05-01T08:00:00Z', 'Zürich 🏔', '売上', 1, 1)] },
  { name: 'the header repeated mid-file (concatenated exports)', text: 'ts,region,product,amount,quantity\n', reject: 'field "ts": "ts" is not a valid iso timestamp' },
  { name: 'a BOM mid-file (a concatenated export)', text: '\ufeff2024-05-01T08:10:00Z,north,bom_mid,1,1\n', reject: 'is not a valid iso timestamp' },
  { name: 'a quote inside an unquoted field', text: '2024-05-01T09:00:00Z,no"rth,stray,1,1\n', reject: 'has a quote inside an unquoted field' },
  { name: 'text after a closing quote', text: '2024-05-01T09:10:00Z,"north"x,after,1,1\n', reject: 'has text after its closing quote' },
  { name: 'a line of spaces (a record: spaces are data)', text: '   \n', reject: 'expected 5 fields, found 1' },
  { name: 'spaces around a dimension (kept)', text: '2024-05-01T09:20:00Z, north ,spaced,1,1\n', good: [rec('2024-05-01T09:20:00Z', ' north ', 'spaced', 1, 1)] },
  { name: 'the last line without a line end', text: '2024-05-01T09:30:00Z,north,last,9,9', good: [rec('2024-05-01T09:30:00Z', 'north', 'last', 9, 9)] },
];

const NDJSON_CASES: readonly RecordCase[] = [
  { name: 'a BOM before the first line', text: '\ufeff{"ts":"2024-06-01T00:00:00Z","region":"bom","amount":1}\n', good: [rec('2024-06-01T00:00:00Z', 'bom', '', 1)] },
  { name: 'a CRLF line end', text: '{"ts":"2024-06-01T01:00:00Z","region":"crlf","amount":2}\r\n', good: [rec('2024-06-01T01:00:00Z', 'crlf', '', 2)] },
  { name: 'an array line', text: '[1,2]\n', reject: 'expected a JSON object, found [1,2]' },
  { name: 'a string line', text: '"x"\n', reject: 'expected a JSON object, found "x"' },
  { name: 'a null line', text: 'null\n', reject: 'expected a JSON object, found null' },
  { name: 'a number line', text: '42\n', reject: 'expected a JSON object, found 42' },
  {
    name: 'duplicate keys (the last wins, as in JSON.parse and Postgres jsonb)',
    text: '{"ts":"2024-06-01T02:00:00Z","region":"first","region":"last","amount":3}\n',
    good: [rec('2024-06-01T02:00:00Z', 'last', '', 3)],
  },
  { name: 'a metric as a numeric string', text: '{"ts":"2024-06-01T03:00:00Z","region":"s","amount":"12.5"}\n', good: [rec('2024-06-01T03:00:00Z', 's', '', 12.5)] },
  { name: 'a metric as a boolean', text: '{"ts":"2024-06-01T03:00:00Z","region":"s","amount":true}\n', reject: 'field "amount": true is not a number' },
  { name: 'a metric as an object', text: '{"ts":"2024-06-01T03:00:00Z","region":"s","amount":{"v":1}}\n', reject: 'field "amount": {"v":1} is not a number' },
  { name: 'a metric as a padded string', text: '{"ts":"2024-06-01T03:00:00Z","region":"s","amount":" 7 "}\n', reject: 'field "amount": " 7 " is not a number' },
  { name: 'a metric as a grouped string', text: '{"ts":"2024-06-01T03:00:00Z","region":"s","amount":"1,234"}\n', reject: 'field "amount": "1,234" is not a number' },
  { name: 'a metric null (missing)', text: '{"ts":"2024-06-01T04:00:00Z","region":"n","amount":null,"quantity":2}\n', good: [rec('2024-06-01T04:00:00Z', 'n', '', undefined, 2)] },
  { name: 'a metric 1e400 (parsed as Infinity)', text: '{"ts":"2024-06-01T04:00:00Z","region":"n","amount":1e400}\n', reject: 'field "amount": Infinity is beyond the magnitude bound' },
  { name: 'dimensions as a number and a boolean', text: '{"ts":"2024-06-01T05:00:00Z","region":7,"product":true,"amount":5}\n', good: [rec('2024-06-01T05:00:00Z', '7', 'true', 5)] },
  { name: 'a dimension as an object', text: '{"ts":"2024-06-01T05:00:00Z","region":{"a":1}}\n', reject: 'field "region": {"a":1} is not a dimension value' },
  { name: 'a raw NUL inside a string', text: '{"ts":"2024-06-01T05:00:00Z","region":"a\u0000b"}\n', reject: 'invalid JSON' },
  { name: 'an epoch number in an iso dataset', text: '{"ts":1717200000,"region":"n"}\n', reject: 'field "ts": 1717200000 is not a valid iso timestamp' },
  { name: 'a null time', text: '{"ts":null,"region":"n"}\n', reject: 'missing time: field "ts" is null' },
  { name: 'a trailing comma', text: '{"ts":"2024-06-01T05:00:00Z","amount":1,}\n', reject: 'invalid JSON' },
  { name: 'a line of spaces (not blank: not JSON)', text: '   \n', reject: 'invalid JSON' },
  { name: 'blank lines', text: '\n\r\n', records: 0 },
  { name: 'a __proto__ key (an own field, not a prototype)', text: '{"ts":"2024-06-01T06:00:00Z","__proto__":{"region":"evil"},"amount":6}\n', good: [rec('2024-06-01T06:00:00Z', '', '', 6)] },
  { name: 'the last line without a line end', text: '{"ts":"2024-06-01T07:00:00Z","region":"last","amount":7}', good: [rec('2024-06-01T07:00:00Z', 'last', '', 7)] },
];

const recordsOf = (c: RecordCase) => c.records ?? (c.reject ? 1 : (c.good?.length ?? 0));
const linesOf = (text: string) => text.split('\n').length - 1;

/** A records upload: one file of all the cases, its job and its rejects by line. */
function recordsUpload(format: 'csv' | 'ndjson', header: string, cases: readonly RecordCase[]) {
  const state: { def?: DatasetDefinition; job?: IngestJob; byLine: Map<number, LocatedReject>; lines: number[] } = { byLine: new Map(), lines: [] };
  beforeAll(async () => {
    const def = await registerDataset(p, { ...salesCsv(`corpus_${format}`), format });
    let line = 1 + linesOf(header);
    for (const c of cases) {
      state.lines.push(line);
      line += linesOf(c.text);
    }
    const job = await uploadAndWait(p, `uploads/${def.name}/records.${format}`, Buffer.from(header + cases.map((c) => c.text).join('')));
    for (const r of await listRejects(p.db, job.jobId, 10_000)) state.byLine.set(r.line!, r);
    Object.assign(state, { def, job });
  });
  return state;
}

describe.each([
  ['csv', '\ufeff"ts","region","product","amount","quantity"\r\n', CSV_CASES],
  ['ndjson', '', NDJSON_CASES],
] as const)('%s records as users write them, in one upload', (format, header, cases) => {
  const upload = recordsUpload(format, header, cases);

  it.each(cases.map((c, i) => ({ ...c, i })))('$name', (c) => {
    // Assess: a reject on the case's first line with its reason, or none there.
    const reject = upload.byLine.get(upload.lines[c.i]!);
    if (c.reject) expect(reject?.reason).toContain(c.reject);
    else expect(reject).toBeUndefined();
  });

  it('ends, counts every record once, stores each reject on its line, and aggregates the good ones exactly', async () => {
    // Prepare
    const good = cases.flatMap((c) => c.good ?? []);
    const rejected = cases.filter((c) => c.reject).length;

    // Act
    const { problems } = await compareQueries(p.db, upload.def!, good, upload.def!.rollups);

    // Assess
    expect(upload.job).toMatchObject({ status: 'completed_with_rejects', recordsAggregated: good.length, recordsRejected: rejected });
    expect(upload.job!.recordsRead).toBe(cases.reduce((n, c) => n + recordsOf(c), 0));
    expect([...upload.byLine.keys()].sort((a, b) => a - b)).toEqual(cases.flatMap((c, i) => (c.reject ? [upload.lines[i]!] : [])));
    expect(problems).toEqual([]);
  });
});

const HEADER = 'ts,region,product,amount,quantity\r\n';
const row = (i: number) => `2024-07-0${1 + (i % 9)}T${String(i % 24).padStart(2, '0')}:00:00Z,r${i % 4},p${i % 5},${(i % 50) + 0.25},${i % 7}\r\n`;
const rows = (from: number, count: number) => Array.from({ length: count }, (_, i) => row(from + i)).join('');
const ndjsonRow = (i: number) => `${JSON.stringify({ ts: `2024-07-0${1 + (i % 9)}T10:00:00Z`, region: `r${i % 4}`, product: `p${i % 5}`, amount: i % 50 })}\n`;
const ndjsonRows = (from: number, count: number) => Array.from({ length: count }, (_, i) => ndjsonRow(from + i)).join('');
/** UTF-16BE: UTF-16LE with each unit's bytes swapped. */
const utf16be = (text: string) => Buffer.from(text, 'utf16le').swap16();
const FIVE_MB = 5 * 1024 * 1024;

interface FileCase {
  readonly name: string;
  readonly format?: 'csv' | 'ndjson';
  readonly key?: string;
  readonly body: () => Buffer;
  /** failed: the reason; otherwise the good records read independently, and the rejects as [line, reason part]. */
  readonly failed?: RegExp;
  readonly good?: () => FlatRecord[];
  readonly rejects?: readonly (readonly [number, string])[];
}

/** The NDJSON rows' records, by arithmetic (as ndjsonRow writes them). */
const ndjsonRecords = (from: number, count: number): FlatRecord[] =>
  Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return rec(`2024-07-0${1 + (i % 9)}T10:00:00Z`, `r${i % 4}`, `p${i % 5}`, i % 50);
  });

const FILE_CASES: readonly FileCase[] = [
  // Read by transcoding (encodings.test.ts has more); without a byte order mark UTF-16 is not told from binary.
  { name: 'UTF-16BE with a byte order mark', body: () => Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(HEADER + rows(0, 5))]), good: () => readCsvIndependently(Buffer.from(HEADER + rows(0, 5)), salesDef()).good },
  { name: 'UTF-16LE without a byte order mark', body: () => Buffer.from(HEADER + rows(0, 5), 'utf16le'), failed: /NUL byte in its first line \(byte 1\)/ },
  { name: 'UTF-16BE without a byte order mark', body: () => utf16be(HEADER + rows(0, 5)), failed: /NUL byte in its first line \(byte 0\)/ },
  { name: 'CR alone as the line end (classic Mac): read as its CRLF original', body: () => Buffer.from((HEADER + rows(0, 300)).replaceAll('\r\n', '\r')), good: () => readCsvIndependently(Buffer.from(HEADER + rows(0, 300)), salesDef()).good },
  { name: 'an empty NDJSON object', format: 'ndjson', body: () => Buffer.alloc(0), failed: /object is empty/ },
  { name: 'a gzip of a zero-byte CSV file', key: 'file.csv.gz', body: () => gzipSync(Buffer.alloc(0)), failed: /empty/ },
  { name: 'a gzip of a zero-byte NDJSON file', format: 'ndjson', key: 'file.ndjson.gz', body: () => gzipSync(Buffer.alloc(0)), failed: /object is empty/ },
  { name: 'a header without a line end, and nothing else', body: () => Buffer.from('ts,region,product,amount,quantity'), good: () => [] },
  { name: 'a header and blank lines only', body: () => Buffer.from(`${HEADER}\r\n\n\r\n`), good: () => [] },
  { name: 'a .gz key that is not gzip (read by its bytes, as plain CSV)', key: 'file.csv.gz', body: () => Buffer.from(HEADER + rows(0, 300)), good: () => readCsvIndependently(Buffer.from(HEADER + rows(0, 300)), salesDef()).good },
  {
    name: 'a gzip of two concatenated members (cat a.gz b.gz)',
    key: 'file.csv.gz',
    body: () => Buffer.concat([gzipSync(Buffer.from(HEADER + rows(0, 300))), gzipSync(Buffer.from(rows(300, 300)))]),
    good: () => readCsvIndependently(Buffer.from(HEADER + rows(0, 600)), salesDef()).good,
  },
  {
    name: 'a 5 MB line in an uncompressed file',
    body: () => Buffer.from(HEADER + rows(0, 300) + `2024-07-01T00:00:00Z,north,${'x'.repeat(FIVE_MB)},1,1\r\n` + rows(300, 300)),
    good: () => readCsvIndependently(Buffer.from(HEADER + rows(0, 600)), salesDef()).good,
    rejects: [[302, `record exceeds ${MAX_RECORD_BYTES} bytes`]],
  },
  {
    name: 'a 5 MB NDJSON line in a gzip',
    format: 'ndjson',
    key: 'file.ndjson.gz',
    body: () => gzipSync(Buffer.from(ndjsonRows(0, 300) + `{"ts":"2024-07-01T00:00:00Z","region":"${'x'.repeat(FIVE_MB)}"}\n` + ndjsonRows(300, 300))),
    good: () => ndjsonRecords(0, 600),
    rejects: [[301, `record exceeds ${MAX_RECORD_BYTES} bytes`]],
  },
  {
    name: 'a gzip holding the bad-input fixtures of a CSV with NUL dimensions',
    key: 'file.csv.gz',
    body: () => gzipSync(Buffer.from(`${HEADER + rows(0, 50)}2024-07-01T00:00:00Z,no\u0000rth,p1,1,1\r\n${rows(50, 50)}`)),
    good: () => readCsvIndependently(Buffer.from(HEADER + rows(0, 100)), salesDef()).good,
    rejects: [[52, 'field "region": "no\\u0000rth" contains NUL (U+0000)']],
  },
];

let salesDefinition: DatasetDefinition | undefined;
/** The sales layout the CSV cases are read with independently (any of their datasets: they differ only in name). */
const salesDef = () => salesDefinition!;

describe('files as exporters and gzip leave them', () => {
  it.each(FILE_CASES.map((c, i) => ({ ...c, i })))('$name', async (c) => {
    // Prepare
    const def = await registerDataset(p, { ...salesCsv(`corpus_file_${c.i}`), format: c.format ?? 'csv' });
    salesDefinition = def;
    const good = c.good?.() ?? [];

    // Act
    const job = await uploadAndWait(p, `uploads/${def.name}/${c.key ?? `file.${c.format ?? 'csv'}`}`, c.body());
    const rejects = await listRejects(p.db, job.jobId);

    // Assess
    if (c.failed) {
      expect(job.status).toBe('failed');
      expect(job.reason).toMatch(c.failed);
      expect(job.recordsRead).toBe(0);
      expect(await countRows(p, 'rollups', { dataset: def.name })).toBe(0);
      return;
    }
    const expectedRejects = c.rejects ?? [];
    expect(job).toMatchObject({
      status: expectedRejects.length > 0 ? 'completed_with_rejects' : 'completed',
      recordsRead: good.length + expectedRejects.length,
      recordsAggregated: good.length,
      recordsRejected: expectedRejects.length,
    });
    expect(rejects.map((r) => r.line)).toEqual(expectedRejects.map(([line]) => line));
    rejects.forEach((r, i) => expect(r.reason).toContain(expectedRejects[i]![1]));
    expect((await compareQueries(p.db, def, good, def.rollups)).problems).toEqual([]);
  });
});

/** Region values a filter must match exactly, each holding what would break a filter pasted into SQL. */
const TRICKY_REGIONS = ["o'brien", 'say "hi"', 'a--b', 'x; drop table rollups', '/* c */', 'back\\slash', 'plain'];

describe('analytics filters with quotes, comments, semicolons and NUL', () => {
  let def: DatasetDefinition;
  let records: FlatRecord[];
  const FIRE = '2024-08-02T00:00:00Z';
  const csvQuoted = (v: string) => `"${v.replaceAll('"', '""')}"`;

  beforeAll(async () => {
    def = await registerDataset(p, salesCsv('corpus_filters'));
    const lines = Array.from({ length: 140 }, (_, i) => `2024-08-01T${String(i % 24).padStart(2, '0')}:10:00Z,${csvQuoted(TRICKY_REGIONS[i % TRICKY_REGIONS.length]!)},p${i % 3},${i},${i % 5}\n`);
    const bytes = Buffer.from(`ts,region,product,amount,quantity\n${lines.join('')}`);
    records = readCsvIndependently(bytes, def).good;
    const job = await uploadAndWait(p, 'uploads/corpus_filters/tricky.csv', bytes);
    expect(job).toMatchObject({ status: 'completed', recordsAggregated: 140 });
  });

  /** Filters parsed as literals: the predicate is the same filter written in JS, by hand. */
  const matched: readonly { filter: string; keep: (region: string) => boolean }[] = [
    { filter: `region = "o'brien"`, keep: (r) => r === "o'brien" },
    { filter: `region = 'o\\'brien'`, keep: (r) => r === "o'brien" },
    { filter: `region = 'say "hi"'`, keep: (r) => r === 'say "hi"' },
    { filter: `region = "a--b"`, keep: (r) => r === 'a--b' },
    { filter: `region = 'x; drop table rollups'`, keep: (r) => r === 'x; drop table rollups' },
    { filter: `region = "/* c */"`, keep: (r) => r === '/* c */' },
    { filter: `region = "back\\\\slash"`, keep: (r) => r === 'back\\slash' },
    { filter: `region in ('o\\'brien', "a--b", "--")`, keep: (r) => r === "o'brien" || r === 'a--b' },
    { filter: `region != "plain" and not region in ("/* c */", 'x; drop table rollups')`, keep: (r) => !['plain', '/* c */', 'x; drop table rollups'].includes(r) },
  ];

  it.each(matched.map((m, i) => ({ ...m, i })))('$filter: matches exactly the records holding that value', async ({ filter, keep, i }) => {
    // Prepare
    const job = salesJob({ name: `corpus-filter-${i}`, dataset: def.name, granularity: '1-day', entity: 'region', filter });
    checkAnalyticsJob(job, def);
    await putAnalyticsJob(p.db, job);

    // Act
    const outcome = await runAnalyticsJob(p.db, job.name, new Date(FIRE), 'manual');
    const stored = await listResults(p.db, job.name);

    // Assess: against the records filtered in JS, and every region kept has results.
    const kept = records.filter((r) => keep(r.dims.region!));
    expect(outcome.status).toBe('succeeded');
    expect(resultDifferences(stored, kept, job, outcome.windows)).toEqual([]);
    expect(new Set(stored.map((r) => r.entity))).toEqual(new Set(kept.map((r) => r.dims.region)));
  });

  /** Filters refused before any SQL: the error names what is wrong; `definition`: refused as the definition is read. */
  const refused: readonly { filter: string; error: RegExp; definition?: boolean }[] = [
    { filter: `region = "plain" -- comment`, error: /filter: unexpected "-" at 18/ },
    { filter: `region = "plain"; drop table rollups`, error: /filter: unexpected ";" at 17, expected and, or or end/ },
    { filter: `region = "plain" /* c */`, error: /filter: unexpected "\/" at 18/ },
    { filter: `region = "a\\u0000b"`, error: /filter: string starting at 10 holds NUL \(U\+0000\)/ },
    { filter: `region = "a\u0000b"`, error: /filter: holds a NUL character \(U\+0000\), which cannot be stored/, definition: true },
    { filter: `region = "a" \u0000`, error: /filter: holds a NUL character \(U\+0000\), which cannot be stored/, definition: true },
    { filter: `region = 'o'brien'`, error: /filter: .* at 13/ },
    { filter: `region = "x" or 1=1`, error: /filter: .* at 17/ },
    { filter: `region = "unterminated`, error: /filter: unterminated string starting at 10/ },
  ];

  it.each(refused.map((r, i) => ({ ...r, i })))('$filter: is refused with the position named, and no run starts', async ({ filter, error, definition, i }) => {
    // Prepare
    const name = `corpus-refused-${i}`;
    const define = () => parseAnalyticsJobDefinition({ ...salesJob({ name, dataset: def.name, granularity: '1-day' }), filter });
    const before = await countRows(p, 'rollups', { dataset: def.name });

    // Act: reading the definition; then put-time validation, and a run of the job stored anyway (as by an older version).
    if (definition) {
      expect(define).toThrow(error);
      return;
    }
    const job = define();
    const check = () => checkAnalyticsJob(job, def);
    await putAnalyticsJob(p.db, job);
    const run = runAnalyticsJob(p.db, job.name, new Date(FIRE), 'manual');

    // Assess: the plan refuses the filter before the run's first statement (no run row).
    expect(check).toThrow(error);
    await expect(run).rejects.toThrow(error);
    const { sql } = p.db;
    const [runs] = await sql`select count(*)::int as n from ${p.db.table('analytics_runs')} where job = ${job.name}`;
    expect(runs!.n).toBe(0);
    expect(await countRows(p, 'rollups', { dataset: def.name })).toBe(before);
  });
});
