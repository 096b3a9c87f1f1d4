import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRecordReader } from '../../../lib/parse/reader.ts';
import type { RecordLayout, RejectedRecord } from '../../../lib/parse/sink.ts';
import { createPartCutter, type PartCutterOptions } from '../../../lib/split/cutter.ts';
import { chunked, csvText, dialectBytes, escapingDialect, referenceParse } from '../parse/csvText.ts';

const bytesOf = (text: string) => Buffer.from(text, 'utf8');

/** The reader's limit in the tests that do not test it. */
const LARGE = 1 << 20;

function cut(options: Omit<PartCutterOptions, 'maxRecordBytes'> & { maxRecordBytes?: number }, chunks: readonly Uint8Array[]): Buffer[] {
  const cutter = createPartCutter({ maxRecordBytes: LARGE, ...options });
  const parts = chunks.flatMap((chunk) => cutter.push(chunk));
  return [...parts, ...cutter.end()];
}

/** What the processor's reader makes of some bytes: accepted times, rejected raw texts, the rejects and the lines read. */
function readAll(
  layout: RecordLayout,
  bytes: Uint8Array,
  maxRecordBytes = LARGE,
  chunkBytes = Infinity,
): { accepted: number[]; rejected: string[]; rejects: RejectedRecord[]; lines: number } {
  const accepted: number[] = [];
  const rejects: RejectedRecord[] = [];
  const reader = createRecordReader(layout, { accept: (timeMs) => accepted.push(timeMs), reject: (r: RejectedRecord) => rejects.push(r) }, { baseOffset: 0, maxRecordBytes });
  for (let at = 0; at < bytes.length; at += chunkBytes) reader.push(bytes.subarray(at, at + chunkBytes));
  const { lines } = reader.end();
  return { accepted, rejected: rejects.map((r) => r.raw), rejects, lines };
}

/** The rejects of parts read one by one, their lines counted from the start of the whole, as listRejects does. */
function partRejects(layout: RecordLayout, parts: readonly Buffer[], maxRecordBytes: number): { line: number; reason: string; raw: string }[] {
  let linesBefore = 0;
  return parts.flatMap((part) => {
    const read = readAll(layout, part, maxRecordBytes);
    const located = read.rejects.map((r) => ({ line: linesBefore + r.line, reason: r.reason, raw: r.raw }));
    linesBefore += read.lines;
    return located;
  });
}

const TWO_COLUMNS: RecordLayout = { format: 'csv', columns: ['ts', 'x'], timeColumn: 'ts', timeFormat: 'epoch_ms', dimensions: ['x'], metrics: [] };
const NDJSON: RecordLayout = { ...TWO_COLUMNS, format: 'ndjson', columns: [] };

describe('createPartCutter (CSV)', () => {
  it('cuts generated CSV into parts of whole records that concatenate to the input', () => {
    fc.assert(
      fc.property(
        csvText({ columns: 3, maxRecords: 30 }),
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1 }),
        ({ text }, targetBytes, sizes) => {
          // Prepare
          const bytes = bytesOf(text);

          // Act
          const parts = cut({ format: 'csv', targetBytes }, chunked(bytes, sizes));

          // Assess
          expect(Buffer.concat(parts).equals(bytes)).toBe(true);
          expect(parts.slice(0, -1).every((p) => p.length >= targetBytes)).toBe(true);
          expect(parts.slice(0, -1).every((p) => p.at(-1) === 0x0a)).toBe(true);
          expect(parts.flatMap((p) => referenceParse(p.toString()))).toEqual(referenceParse(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cuts where the parser resumes after malformed records, so parts read as the whole does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[0-9a-z,"\r\n-]{0,25}$/), { maxLength: 12 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        (lines, targetBytes, size) => {
          // Prepare
          const layout = TWO_COLUMNS;
          const bytes = bytesOf(lines.join('\n'));

          // Act
          const parts = cut({ format: 'csv', targetBytes }, chunked(bytes, [size]));

          // Assess
          const whole = readAll(layout, bytes);
          const pieces = parts.map((p) => readAll(layout, p));
          expect(Buffer.concat(parts).equals(bytes)).toBe(true);
          expect(pieces.flatMap((p) => p.accepted)).toEqual(whole.accepted);
          expect(pieces.flatMap((p) => p.rejected)).toEqual(whole.rejected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('cuts generated CSV of any delimiter, quote, escape and line end into parts of whole records (csv-parse reads them as the whole)', () => {
    fc.assert(
      fc.property(
        escapingDialect.chain((dialect) => fc.tuple(fc.constant(dialect), csvText({ columns: 3, maxRecords: 30, dialect }))),
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1 }),
        ([dialect, { text }], targetBytes, sizes) => {
          // Prepare
          const bytes = bytesOf(text);
          const lineEnd = dialectBytes(dialect).lineEnd;

          // Act
          const parts = cut({ format: 'csv', targetBytes, dialect: dialectBytes(dialect) }, chunked(bytes, sizes));

          // Assess
          expect(Buffer.concat(parts).equals(bytes)).toBe(true);
          expect(parts.slice(0, -1).every((p) => p.length >= targetBytes && p.at(-1) === lineEnd)).toBe(true);
          expect(parts.flatMap((p) => referenceParse(p.toString(), dialect))).toEqual(referenceParse(text, dialect));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cuts malformed CSV of a CR-only, semicolon, single-quote dialect where its reader resumes, so parts read as the whole does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[0-9a-z;',\n-]{0,25}$/), { maxLength: 12 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        (lines, targetBytes, size) => {
          // Prepare
          const dialect = { delimiter: 59, quote: 39, lineEnd: 13 } as const;
          const layout: RecordLayout = { ...TWO_COLUMNS, dialect };
          const bytes = bytesOf(lines.join('\r'));

          // Act
          const parts = cut({ format: 'csv', targetBytes, dialect }, chunked(bytes, [size]));

          // Assess
          const whole = readAll(layout, bytes);
          const pieces = parts.map((p) => readAll(layout, p));
          expect(Buffer.concat(parts).equals(bytes)).toBe(true);
          expect(pieces.flatMap((p) => p.accepted)).toEqual(whole.accepted);
          expect(pieces.flatMap((p) => p.rejected)).toEqual(whole.rejected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('returns no part for no input, and the whole input as one part when it is shorter than the target', () => {
    // Act
    const none = cut({ format: 'csv', targetBytes: 10 }, []);
    const one = cut({ format: 'csv', targetBytes: 100 }, [bytesOf('a,b\nc,d\n')]);

    // Assess
    expect(none).toEqual([]);
    expect(one.map(String)).toEqual(['a,b\nc,d\n']);
  });

  it('does not cut at a quoted line break', () => {
    // Prepare
    const text = 'a,"1\n2\n3\n4"\nb,c\n';

    // Act
    const parts = cut({ format: 'csv', targetBytes: 2 }, chunked(bytesOf(text), [1]));

    // Assess
    expect(parts.map(String)).toEqual(['a,"1\n2\n3\n4"\n', 'b,c\n']);
  });
});

describe('createPartCutter (NDJSON)', () => {
  it('cuts generated NDJSON after line ends into parts that concatenate to the input', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue().map((v) => JSON.stringify({ v })), { maxLength: 20 }),
        fc.constantFrom('\n', '\r\n', '\n\n'),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }),
        (lines, lineEnd, targetBytes, sizes) => {
          // Prepare
          const text = lines.join(lineEnd);
          const bytes = bytesOf(text);

          // Act
          const parts = cut({ format: 'ndjson', targetBytes }, chunked(bytes, sizes));

          // Assess
          expect(Buffer.concat(parts).equals(bytes)).toBe(true);
          expect(parts.slice(0, -1).every((p) => p.length >= targetBytes && p.at(-1) === 0x0a)).toBe(true);
          const objects = (t: string) => t.split(/\r?\n/).filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
          expect(parts.flatMap((p) => objects(p.toString()))).toEqual(objects(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('makes each part but the last end at the first line end at or past the target', () => {
    // Prepare
    const text = '{"a":1}\n{"a":22}\n{"a":333}\n{"a":4}';

    // Act
    const parts = cut({ format: 'ndjson', targetBytes: 9 }, [bytesOf(text)]);

    // Assess
    expect(parts.map(String)).toEqual(['{"a":1}\n{"a":22}\n', '{"a":333}\n', '{"a":4}']);
  });
});

describe('createPartCutter: memory', () => {
  it('holds at most a part, the longest line and one chunk (NDJSON lines of random lengths)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 97 }),
        (lengths, targetBytes, chunkBytes) => {
          // Prepare
          const text = lengths.map((n) => `${'x'.repeat(n)}\n`).join('');
          const longest = Math.max(...lengths) + 1;
          const cutter = createPartCutter({ format: 'ndjson', targetBytes, maxRecordBytes: LARGE });

          // Act
          const held: number[] = [];
          for (let i = 0; i < text.length; i += chunkBytes) {
            cutter.push(bytesOf(text.slice(i, i + chunkBytes)));
            held.push(cutter.pendingBytes());
          }

          // Assess
          expect(Math.max(...held)).toBeLessThanOrEqual(targetBytes + longest + chunkBytes);
        },
      ),
    );
  });
});

/** Records over the reader's limit: 4,000-9,000 bytes without a line end, quotes and commas around them. */
const longRecord = fc
  .tuple(fc.stringMatching(/^[0-9a-z,"\n]{0,12}$/), fc.integer({ min: 4000, max: 9000 }), fc.stringMatching(/^[a-z,"\r]{0,6}$/))
  .map(([head, n, tail]) => `${head}${'y'.repeat(n)}${tail}`);

/**
 * A reject as the comparison sees it. A shortened record (its raw text cut at 1,000 characters)
 * keeps its kind of problem; the field a reason names may differ, as the scanner keeps no field
 * positions of a record past the limit.
 */
function comparable(r: { line: number; reason: string; raw: string }) {
  const kind = /exceeds/.test(r.reason) ? 'too long' : /not closed/.test(r.reason) ? 'open quote' : /unterminated/.test(r.reason) ? 'unterminated' : r.reason;
  return { line: r.line, raw: r.raw, reason: r.raw.length >= 1000 ? kind : r.reason };
}

describe('createPartCutter: records over maxRecordBytes', () => {
  it('shortens them so the parts read as the whole does: same accepted records, and the same rejects, lines, reasons and raw texts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.stringMatching(/^[0-9a-z,"\r\n-]{0,25}$/), longRecord), { maxLength: 10 }),
        fc.integer({ min: 8, max: 60 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.boolean(),
        (lines, maxRecordBytes, targetBytes, chunkBytes, finalLineEnd) => {
          // Prepare
          const bytes = bytesOf(lines.join('\n') + (finalLineEnd ? '\n' : ''));

          // Act
          const parts = cut({ format: 'csv', targetBytes, maxRecordBytes }, chunked(bytes, [chunkBytes]));

          // Assess
          const whole = readAll(TWO_COLUMNS, bytes, maxRecordBytes);
          expect(parts.flatMap((p) => readAll(TWO_COLUMNS, p, maxRecordBytes).accepted)).toEqual(whole.accepted);
          expect(partRejects(TWO_COLUMNS, parts, maxRecordBytes).map(comparable)).toEqual(whole.rejects.map(comparable));
          expect(parts.reduce((n, p) => n + p.length, 0)).toBeLessThanOrEqual(bytes.length + lines.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does the same in a semicolon, single-quote, CR-only dialect (the same texts with those bytes swapped in)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.stringMatching(/^[0-9a-z,"\r\n-]{0,25}$/), longRecord), { maxLength: 10 }),
        fc.integer({ min: 8, max: 60 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 3000 }),
        (lines, maxRecordBytes, targetBytes, chunkBytes) => {
          // Prepare: `,` → `;`, `"` → `'`, LF ↔ CR, so the structure is the default one's.
          const swap: Record<string, string> = { ',': ';', '"': "'", '\n': '\r', '\r': '\n' };
          const bytes = bytesOf([...lines.join('\n')].map((c) => swap[c] ?? c).join(''));
          const dialect = { delimiter: 59, quote: 39, lineEnd: 13 } as const;
          const layout: RecordLayout = { ...TWO_COLUMNS, dialect };

          // Act
          const parts = cut({ format: 'csv', targetBytes, maxRecordBytes, dialect }, chunked(bytes, [chunkBytes]));

          // Assess
          const whole = readAll(layout, bytes, maxRecordBytes);
          expect(parts.flatMap((p) => readAll(layout, p, maxRecordBytes).accepted)).toEqual(whole.accepted);
          expect(partRejects(layout, parts, maxRecordBytes).map(comparable)).toEqual(whole.rejects.map(comparable));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does the same for NDJSON lines', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom('{"ts":1,"x":"a"}', '{"ts":2}', '[1]', ''), longRecord.map((l) => l.replaceAll('\n', ' '))), { maxLength: 10 }),
        fc.integer({ min: 8, max: 60 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 3000 }),
        (lines, maxRecordBytes, targetBytes, chunkBytes) => {
          // Prepare
          const bytes = bytesOf(lines.join('\n'));

          // Act
          const parts = cut({ format: 'ndjson', targetBytes, maxRecordBytes }, chunked(bytes, [chunkBytes]));

          // Assess
          const whole = readAll(NDJSON, bytes, maxRecordBytes);
          expect(parts.flatMap((p) => readAll(NDJSON, p, maxRecordBytes).accepted)).toEqual(whole.accepted);
          expect(partRejects(NDJSON, parts, maxRecordBytes)).toEqual(whole.rejects.map((r) => ({ line: r.line, reason: r.reason, raw: r.raw })));
        },
      ),
      { numRuns: 200 },
    );
  });

  for (const c of [
    { name: 'a CSV line', format: 'csv', record: (n: number) => `1,${'z'.repeat(n)}\n`, reason: 'record exceeds 262144 bytes' },
    { name: 'a CSV quoted field, closed', format: 'csv', record: (n: number) => `1,"${'z,'.repeat(n / 2)}"\n`, reason: 'record exceeds 262144 bytes' },
    {
      name: 'a CSV quoted field never closed, at the end of the data',
      format: 'csv',
      record: (n: number) => `1,"oops${'z'.repeat(n)}`,
      reason: 'field "x": unterminated quoted field',
    },
    { name: 'an NDJSON line', format: 'ndjson', record: (n: number) => `{"ts":1,"x":"${'z'.repeat(n)}"}\n`, reason: 'record exceeds 262144 bytes' },
  ] as const) {
    it(`holds at most a part, the kept prefix and a chunk while fed 50 MB of ${c.name} in 64 KB chunks, and leaves one reject`, () => {
      // Prepare: good records around the long one.
      const maxRecordBytes = 256 * 1024;
      const chunkBytes = 64 * 1024;
      const targetBytes = 1 << 20;
      const good = (from: number) => Array.from({ length: 2000 }, (_, i) => (c.format === 'csv' ? `${from + i},g\n` : `{"ts":${from + i},"x":"g"}\n`)).join('');
      const long = c.record(50 * 1024 * 1024);
      const bytes = bytesOf(good(0) + long + (long.endsWith('\n') ? good(2000) : ''));
      const cutter = createPartCutter({ format: c.format, targetBytes, maxRecordBytes });
      const layout = c.format === 'csv' ? TWO_COLUMNS : NDJSON;

      // Act
      let held = 0;
      const parts: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += chunkBytes) {
        parts.push(...cutter.push(bytes.subarray(at, at + chunkBytes)));
        held = Math.max(held, cutter.pendingBytes());
      }
      parts.push(...cutter.end());

      // Assess: the reader, streaming the whole in the same chunks, is the reference.
      const whole = readAll(layout, bytes, maxRecordBytes, chunkBytes);
      expect(held).toBeLessThanOrEqual(targetBytes + maxRecordBytes + 2 * chunkBytes);
      expect(cutter.shortenedRecords).toBe(1);
      expect(whole.rejects.map((r) => [r.line, r.reason])).toEqual([[2001, expect.stringContaining(c.reason)]]);
      expect(partRejects(layout, parts, maxRecordBytes)).toEqual(whole.rejects.map((r) => ({ line: r.line, reason: r.reason, raw: r.raw })));
      expect(parts.flatMap((p) => readAll(layout, p, maxRecordBytes).accepted)).toEqual(whole.accepted);
    });
  }
});
