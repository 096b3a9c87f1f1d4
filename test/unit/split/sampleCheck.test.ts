import { describe, expect, it } from 'vitest';
import { parseDatasetDefinition } from '../../../lib/datasets/definition.ts';
import { createSampleCheck, SAMPLE_RECORDS, sampleProblem } from '../../../lib/split/sampleCheck.ts';

const sales = parseDatasetDefinition({
  name: 'sales',
  format: 'csv',
  timeColumn: 'ts',
  granularity: '1-hour',
  dimensions: ['region', 'product'],
  metrics: ['amount', 'quantity'],
  maxRejectedPercent: 5,
});
const COLUMNS = ['ts', 'region', 'product', 'amount', 'quantity'];

/** Row i: every `badEvery`-th one (0: none) has a text amount (a reject naming the field), the rest are good. */
const row = (i: number, badEvery: number, separator = ',') =>
  ['2024-03-04T10:00:00Z', `r${i % 3}`, `p${i % 4}`, badEvery > 0 && i % badEvery === 0 ? 'n/a' : String(i % 50), '1'].join(separator);
const rows = (n: number, badEvery: number, separator = ',') => Array.from({ length: n }, (_, i) => `${row(i, badEvery, separator)}\n`).join('');

describe('createSampleCheck', () => {
  it('counts the first 1,000 records of the data and their rejects, the first named with its line in the object', () => {
    // Prepare: 1,500 records, every 10th bad (i = 0, 10, …), after a 1-line header.
    const sample = createSampleCheck(sales, { columns: COLUMNS, headerLines: 1, lineEnd: 'lf' }, 2048);

    // Act
    sample.push(Buffer.from(rows(1500, 10)));
    const counts = sample.counts(false);

    // Assess: by arithmetic, 100 of the first 1,000; the first is record 0, line 2.
    expect(sample.full).toBe(true);
    expect(counts).toEqual({ records: SAMPLE_RECORDS, rejected: 100, first: { line: 2, reason: expect.stringContaining('field "amount": "n/a"') } });
  });

  it('counts a record cut by the end of the sample only when the object ends there', () => {
    // Prepare: 10 good records, the last without its line end, cut in the middle or whole.
    const text = rows(10, 0).trimEnd();
    const cut = createSampleCheck(sales, { columns: COLUMNS, headerLines: 1, lineEnd: 'lf' }, 2048);
    const whole = createSampleCheck(sales, { columns: COLUMNS, headerLines: 1, lineEnd: 'lf' }, 2048);

    // Act
    cut.push(Buffer.from(text.slice(0, -3)));
    whole.push(Buffer.from(text));

    // Assess: the cut one is not a reject (it was not read to its end); at the end it is a record.
    expect(cut.counts(false)).toEqual({ records: 9, rejected: 0 });
    expect(whole.counts(true)).toEqual({ records: 10, rejected: 0 });
  });

  it('rejects every record of a file with another delimiter than the dataset reads', () => {
    // Prepare
    const sample = createSampleCheck(sales, { columns: COLUMNS, headerLines: 1, lineEnd: 'lf' }, 2048);

    // Act
    sample.push(Buffer.from(rows(300, 0, ';')));
    const counts = sample.counts(true);

    // Assess
    expect(counts).toEqual({ records: 300, rejected: 300, first: { line: 2, reason: 'expected 5 fields, found 1' } });
  });
});

describe('sampleProblem', () => {
  const first = { line: 2, reason: 'expected 5 fields, found 1' };

  it('fails a sample over the threshold, saying how many of how many, the likely cause and the first reject', () => {
    // Act
    const problem = sampleProblem({ records: 1000, rejected: 870, first }, 5, 'csv');

    // Assess
    expect(problem).toBe(
      "87 % of the first 1,000 records rejected (over the dataset's maxRejectedPercent of 5 %): is the delimiter right? (or the encoding, the time format). The first reject, line 2: expected 5 fields, found 1",
    );
  });

  it('passes a sample at the threshold or under it, without one, and without records', () => {
    // Act
    const verdicts = [
      sampleProblem({ records: 1000, rejected: 50, first }, 5, 'csv'),
      sampleProblem({ records: 1000, rejected: 51, first }, 5, 'csv'),
      sampleProblem({ records: 3, rejected: 3, first }, 100, 'csv'),
      sampleProblem({ records: 3, rejected: 1, first }, 0, 'ndjson'),
      sampleProblem({ records: 1000, rejected: 1000, first }, null, 'csv'),
      sampleProblem({ records: 0, rejected: 0 }, 0, 'csv'),
    ];

    // Assess: 5.0 % is not over 5; 5.1 % is; 100 % never passes 100; any reject passes 0.
    expect(verdicts).toEqual([
      undefined,
      expect.stringMatching(/^5\.1 % of the first 1,000 records rejected /),
      undefined,
      expect.stringMatching(/^33\.3 % of the first 3 records rejected .*maxRejectedPercent of 0 %/),
      undefined,
      undefined,
    ]);
    expect(verdicts[3]).toContain('is it one JSON object per line?');
  });
});
