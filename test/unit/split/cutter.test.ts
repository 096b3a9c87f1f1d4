import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRecordReader } from '../../../lib/parse/reader.ts';
import type { RecordLayout, RejectedRecord } from '../../../lib/parse/sink.ts';
import { createPartCutter, type PartCutterOptions } from '../../../lib/split/cutter.ts';
import { chunked, csvText, referenceParse } from '../parse/csvText.ts';

const bytesOf = (text: string) => Buffer.from(text, 'utf8');

function cut(options: PartCutterOptions, chunks: readonly Uint8Array[]): Buffer[] {
  const cutter = createPartCutter(options);
  const parts = chunks.flatMap((chunk) => cutter.push(chunk));
  return [...parts, ...cutter.end()];
}

/** What the processor's reader makes of some bytes: accepted times and rejected raw texts. */
function readAll(layout: RecordLayout, bytes: Uint8Array): { accepted: number[]; rejected: string[] } {
  const accepted: number[] = [];
  const rejected: string[] = [];
  const reader = createRecordReader(
    layout,
    { accept: (timeMs) => accepted.push(timeMs), reject: (r: RejectedRecord) => rejected.push(r.raw) },
    { baseOffset: 0, maxRecordBytes: 1 << 20 },
  );
  reader.push(bytes);
  reader.end();
  return { accepted, rejected };
}

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
          const layout: RecordLayout = {
            format: 'csv',
            columns: ['ts', 'x'],
            timeColumn: 'ts',
            timeFormat: 'epoch_ms',
            dimensions: ['x'],
            metrics: [],
          };
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
          const cutter = createPartCutter({ format: 'ndjson', targetBytes });

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
