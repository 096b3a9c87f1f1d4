import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findRecordStart, ownRecordsStart, type BoundaryOptions } from '../../../lib/process/boundary.ts';
import { csvText, dialectBytes, quoteIn, referenceParse, textDialect, type TextDialect } from '../parse/csvText.ts';

const bytesOf = (text: string) => Buffer.from(text, 'utf8');

/** A read over an in-memory object that records its calls and refuses ranges outside the object. */
function reader(bytes: Uint8Array) {
  const calls: [number, number][] = [];
  const read = async (start: number, end: number) => {
    if (start < 0 || end > bytes.length || start >= end) throw new Error(`bad range [${start}, ${end})`);
    calls.push([start, end]);
    return bytes.subarray(start, end);
  };
  return { read, calls };
}

/**
 * The record starts of valid CSV by the definition, computed by quote parity from dataStart (for
 * valid CSV, "outside quotes" is an even number of quotes so far): dataStart and every position
 * after an LF outside quotes.
 */
function csvRecordStarts(bytes: Uint8Array, dataStart: number, quote = 0x22, lineEnd = 0x0a): number[] {
  const starts = [dataStart];
  let quotes = 0;
  for (let i = dataStart; i < bytes.length; i++) {
    if (bytes[i] === quote) quotes++;
    else if (bytes[i] === lineEnd && quotes % 2 === 0) starts.push(i + 1);
  }
  return starts;
}

function lineStarts(bytes: Uint8Array, dataStart: number): number[] {
  const starts = [dataStart];
  for (let i = dataStart; i < bytes.length; i++) if (bytes[i] === 0x0a) starts.push(i + 1);
  return starts;
}

/** The first record start ≥ at, from a list of them. */
const firstAtOrAfter = (starts: number[], at: number, dataStart: number, size: number) =>
  at <= dataStart ? dataStart : (starts.find((s) => s >= at) ?? size);

/** The longest record, line end included: maxRecordBytes must be at least this. */
function longestRecord(starts: number[], size: number): number {
  return Math.max(1, ...starts.map((s, i) => (starts[i + 1] ?? size) - s));
}

const HEADER = 'ts,"na""me",amount\r\n';

/**
 * A CSV object of `header` then `text`: its bytes, where its data starts, its record starts (by
 * quote parity), and boundary options whose maxRecordBytes is its longest record plus `slack`.
 */
function csvObject(header: string, text: string, extra: { slack?: number; windowBytes?: number; dialect?: TextDialect } = {}) {
  const bytes = bytesOf(header + text);
  const dataStart = bytesOf(header).length;
  const dialect = extra.dialect ? dialectBytes(extra.dialect) : undefined;
  const starts = csvRecordStarts(bytes, dataStart, dialect?.quote, dialect?.lineEnd);
  const options: BoundaryOptions = {
    format: 'csv',
    objectSize: bytes.length,
    dataStart,
    maxRecordBytes: longestRecord(starts, bytes.length) + (extra.slack ?? 0),
    ...(extra.windowBytes === undefined ? {} : { windowBytes: extra.windowBytes }),
    ...(dialect ? { dialect } : {}),
  };
  return { bytes, dataStart, starts, options };
}

describe('findRecordStart (CSV)', () => {
  it('finds the first record start at or after every offset of generated files with quoted fields', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvText({ columns: 3, anchored: true }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 64 }),
        async ({ text }, slack, windowBytes) => {
          // Prepare
          const { bytes, dataStart, starts, options } = csvObject(HEADER, text, { slack, windowBytes });
          const { read, calls } = reader(bytes);

          for (let at = 0; at <= bytes.length + 1; at++) {
            // Act
            calls.length = 0;
            const start = await findRecordStart(read, at, options);

            // Assess
            expect(start).toBe(firstAtOrAfter(starts, at, dataStart, bytes.length));
            // Only bytes from at − 1 on are read: both neighbours of a boundary compute the same.
            expect(calls.every(([from]) => from >= at - 1)).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  /** A header in a dialect: a quoted name holding the quote, then its line end. */
  const headerIn = (d: TextDialect) => ['ts', quoteIn(`na${d.quote}me`, d.quote), 'amount'].join(d.delimiter) + (d.lineEnd === 'cr' ? '\r' : '\r\n');

  it('finds the first record start at or after every offset of generated files in any delimiter, quote and line end', async () => {
    await fc.assert(
      fc.asyncProperty(
        textDialect.chain((dialect) => fc.tuple(fc.constant(dialect), csvText({ columns: 3, anchored: true, dialect }))),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 64 }),
        async ([dialect, { text }], slack, windowBytes) => {
          // Prepare
          const { bytes, dataStart, starts, options } = csvObject(headerIn(dialect), text, { slack, windowBytes, dialect });
          const { read, calls } = reader(bytes);

          for (let at = 0; at <= bytes.length + 1; at++) {
            // Act
            calls.length = 0;
            const start = await findRecordStart(read, at, options);

            // Assess
            expect(start).toBe(firstAtOrAfter(starts, at, dataStart, bytes.length));
            expect(calls.every(([from]) => from >= at - 1)).toBe(true);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('cuts generated files of any dialect at random offsets into partitions that parse to the whole file\'s records (csv-parse)', async () => {
    await fc.assert(
      fc.asyncProperty(
        textDialect.chain((dialect) => fc.tuple(fc.constant(dialect), csvText({ columns: 4, anchored: true, maxRecords: 40, dialect }))),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        async ([dialect, { text }], fractions) => {
          // Prepare
          const { bytes, dataStart, options } = csvObject(headerIn(dialect), text, { dialect });
          const cuts = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
          const points = [dataStart, ...cuts, bytes.length];
          const { read } = reader(bytes);

          // Act
          const boundaries = await Promise.all(points.map((at) => findRecordStart(read, at, options)));
          const starts = await Promise.all(boundaries.slice(0, -1).map((b, i) => ownRecordsStart(read, b, boundaries[i + 1], options)));
          const partitions = starts.map((from, i) => bytes.subarray(from, boundaries[i + 1]).toString());

          // Assess
          expect(starts).toEqual(boundaries.slice(0, -1));
          expect(boundaries.at(-1)).toBe(bytes.length);
          expect(partitions.join('')).toBe(text);
          expect(partitions.flatMap((p) => referenceParse(p, dialect))).toEqual(referenceParse(text, dialect));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('finds every record start of generated quote-free files of any dialect, reading maxRecordBytes at most', async () => {
    await fc.assert(
      fc.asyncProperty(
        textDialect.chain((dialect) => fc.tuple(fc.constant(dialect), csvText({ columns: 3, plain: true, dialect }))),
        fc.integer({ min: 1, max: 16 }),
        async ([dialect, { text }], windowBytes) => {
          // Prepare
          const { bytes, starts, options } = csvObject('', text, { windowBytes, dialect });
          const { read, calls } = reader(bytes);

          for (let at = 0; at <= bytes.length; at++) {
            // Act
            calls.length = 0;
            const start = await findRecordStart(read, at, options);

            // Assess
            expect(start).toBe(firstAtOrAfter(starts, at, 0, bytes.length));
            const bytesRead = calls.reduce((sum, [from, to]) => sum + to - from, 0);
            expect(bytesRead).toBeLessThanOrEqual(options.maxRecordBytes);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('stays within [at, at + 2·maxRecordBytes] on arbitrary bytes of a CR-only, semicolon, single-quote dialect', async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[a';\r\n]{1,120}$/), fc.integer({ min: 1, max: 20 }), async (text, maxRecordBytes) => {
        // Prepare
        const bytes = bytesOf(text);
        const { read } = reader(bytes);
        const options: BoundaryOptions = { format: 'csv', objectSize: bytes.length, dataStart: 0, maxRecordBytes, dialect: { delimiter: 59, quote: 39, lineEnd: 13 } };

        for (let at = 0; at <= bytes.length; at++) {
          // Act
          const start = await findRecordStart(read, at, options);

          // Assess
          expect(start).toBeGreaterThanOrEqual(at);
          expect(start).toBeLessThanOrEqual(Math.min(bytes.length, at + 2 * maxRecordBytes));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('finds every record start of generated files without quotes, reading maxRecordBytes at most', async () => {
    await fc.assert(
      fc.asyncProperty(csvText({ columns: 3, plain: true }), fc.integer({ min: 1, max: 16 }), async ({ text }, windowBytes) => {
        // Prepare
        const { bytes, starts, options } = csvObject('', text, { windowBytes });
        const { read, calls } = reader(bytes);

        for (let at = 0; at <= bytes.length; at++) {
          // Act
          calls.length = 0;
          const start = await findRecordStart(read, at, options);

          // Assess
          expect(start).toBe(firstAtOrAfter(starts, at, 0, bytes.length));
          const bytesRead = calls.reduce((sum, [from, to]) => sum + to - from, 0);
          expect(bytesRead).toBeLessThanOrEqual(options.maxRecordBytes);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('cuts generated files at random offsets into partitions that parse to the whole file\'s records', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvText({ columns: 4, anchored: true, maxRecords: 40 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        async ({ text }, fractions) => {
          // Prepare
          const { bytes, dataStart, starts, options } = csvObject(HEADER, text);
          const cuts = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
          const points = [dataStart, ...cuts, bytes.length];
          const { read, calls } = reader(bytes);

          // Act
          const boundaries = await Promise.all(points.map((at) => findRecordStart(read, at, options)));
          const partitions = boundaries.slice(0, -1).map((from, i) => bytes.subarray(from, boundaries[i + 1]).toString());

          // Assess
          expect(boundaries[0]).toBe(dataStart);
          expect(boundaries.at(-1)).toBe(bytes.length);
          expect(partitions.join('')).toBe(text);
          expect(partitions.flatMap((p) => referenceParse(p))).toEqual(referenceParse(text));
          // One read per boundary: the default window holds these files whole.
          expect(calls.length).toBeLessThanOrEqual(points.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('stays within [at, at + 2·maxRecordBytes] whatever the window size, on arbitrary quoted (even malformed) bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^[a",\r\n]{1,120}$/),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 16 }),
        async (text, maxRecordBytes, windowBytes) => {
          // Prepare
          const bytes = bytesOf(text);
          const { read } = reader(bytes);
          const options: BoundaryOptions = { format: 'csv', objectSize: bytes.length, dataStart: 0, maxRecordBytes, windowBytes };

          for (let at = 0; at <= bytes.length; at++) {
            // Act
            const start = await findRecordStart(read, at, options);
            const again = await findRecordStart(read, at, { ...options, windowBytes: windowBytes + 7 });

            // Assess
            expect(start).toBeGreaterThanOrEqual(at);
            expect(start).toBeLessThanOrEqual(Math.min(bytes.length, at + 2 * maxRecordBytes));
            expect(again).toBe(start);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('resolves the state from the first run that only one hypothesis explains', async () => {
    // Prepare: the cut is inside the quoted "x\ny"; the runs around `d` and `x` prove it.
    const text = 'a,b\nc,"d,e\n","x\ny",z\nf,g\n';
    const bytes = bytesOf(text);
    const { read } = reader(bytes);
    const options: BoundaryOptions = { format: 'csv', objectSize: bytes.length, dataStart: 0, maxRecordBytes: 20 };

    // Act
    const inside = await findRecordStart(read, text.indexOf('\ny"') + 1, options);
    const atRecordStart = await findRecordStart(read, text.indexOf('c,'), options);

    // Assess
    expect(inside).toBe(text.indexOf('f,g'));
    expect(atRecordStart).toBe(text.indexOf('c,'));
  });

  it('rules a hypothesis out when no record would end within maxRecordBytes under it', async () => {
    // Prepare: only `""` runs, which both hypotheses explain; "inside" never reaches a record end.
    const text = `${'1,"",2\n'.repeat(10)}`;
    const bytes = bytesOf(text);
    const { read } = reader(bytes);

    // Act
    const start = await findRecordStart(read, 9, { format: 'csv', objectSize: bytes.length, dataStart: 0, maxRecordBytes: 7 });

    // Assess
    expect(start).toBe(14);
  });

  it('chooses "outside" when both hypotheses survive maxRecordBytes of ambiguous runs (the documented rule)', async () => {
    // Prepare: every quoted field is a bare line break; a cut just after one cannot be placed.
    const text = '"\n",a\n'.repeat(6);
    const bytes = bytesOf(text);
    const { read } = reader(bytes);
    const inQuotedLineBreak = 2;

    // Act
    const start = await findRecordStart(read, inQuotedLineBreak, { format: 'csv', objectSize: bytes.length, dataStart: 0, maxRecordBytes: 6 });

    // Assess: the rule takes byte 1 for an LF outside quotes.
    expect(start).toBe(2);
  });

  it('reads one window per boundary in ordinary quoted data, and a few growing windows without quotes', async () => {
    // Prepare
    const line = (i: number) => `2024-01-16T09:59:${String(i % 60).padStart(2, '0')}.242Z,north,"p${i % 50}",155.26,3\n`;
    const plainLine = (i: number) => line(i).replaceAll('"', '');
    const quoted = bytesOf(Array.from({ length: 20_000 }, (_, i) => line(i)).join(''));
    const plain = bytesOf(Array.from({ length: 40_000 }, (_, i) => plainLine(i)).join(''));
    const options = (bytes: Buffer): BoundaryOptions => ({ format: 'csv', objectSize: bytes.length, dataStart: 0, maxRecordBytes: 1 << 20 });
    const quotedRead = reader(quoted);
    const plainRead = reader(plain);

    // Act
    const quotedStart = await findRecordStart(quotedRead.read, 500_001, options(quoted));
    const plainStart = await findRecordStart(plainRead.read, 500_001, options(plain));

    // Assess
    expect(quotedStart).toBe(quoted.indexOf(0x0a, 500_000) + 1);
    expect(quotedRead.calls).toHaveLength(1);
    expect(plainStart).toBe(plain.indexOf(0x0a, 500_000) + 1);
    expect(plainRead.calls.map(([from, to]) => to - from)).toEqual([65_536, 262_144, (1 << 20) - 65_536 - 262_144]);
  });

  it('returns dataStart before the data and objectSize at its end', async () => {
    // Prepare
    const bytes = bytesOf('h\na\nb');
    const { read, calls } = reader(bytes);
    const options: BoundaryOptions = { format: 'csv', objectSize: bytes.length, dataStart: 2, maxRecordBytes: 10 };

    // Act
    const results = await Promise.all([0, 2, 5, 9].map((at) => findRecordStart(read, at, options)));

    // Assess
    expect(results).toEqual([2, 2, 5, 5]);
    expect(calls).toEqual([]);
  });
});

describe('findRecordStart (NDJSON)', () => {
  const line = fc
    .record({ text: fc.string({ unit: 'grapheme', maxLength: 10 }), n: fc.double({ noNaN: true, noDefaultInfinity: true }) })
    .map((value) => JSON.stringify(value));
  const ndjson = fc
    .tuple(fc.array(line, { minLength: 1, maxLength: 15 }), fc.array(fc.constantFrom('\n', '\r\n', '\n\n'), { minLength: 15, maxLength: 15 }))
    .map(([lines, ends]) => lines.map((l, i) => l + ends[i]).join(''));

  it('finds the start of the next line at or after every offset', async () => {
    await fc.assert(
      fc.asyncProperty(ndjson, fc.integer({ min: 1, max: 32 }), async (text, windowBytes) => {
        // Prepare
        const bytes = bytesOf(text);
        const starts = lineStarts(bytes, 0);
        const options: BoundaryOptions = {
          format: 'ndjson',
          objectSize: bytes.length,
          dataStart: 0,
          maxRecordBytes: longestRecord(starts, bytes.length),
          windowBytes,
        };
        const { read } = reader(bytes);

        for (let at = 0; at <= bytes.length; at++) {
          // Act
          const start = await findRecordStart(read, at, options);

          // Assess
          expect(start).toBe(firstAtOrAfter(starts, at, 0, bytes.length));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('cuts generated files into partitions whose lines are the whole file\'s lines', async () => {
    await fc.assert(
      fc.asyncProperty(ndjson, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }), async (text, fractions) => {
        // Prepare
        const bytes = bytesOf(text);
        const options: BoundaryOptions = {
          format: 'ndjson',
          objectSize: bytes.length,
          dataStart: 0,
          maxRecordBytes: longestRecord(lineStarts(bytes, 0), bytes.length),
        };
        const points = [0, ...fractions.map((f) => Math.floor(f * bytes.length)).sort((a, b) => a - b), bytes.length];
        const { read } = reader(bytes);
        const objects = (t: string) => t.split(/\r?\n/).filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);

        // Act
        const boundaries = await Promise.all(points.map((at) => findRecordStart(read, at, options)));
        const partitions = boundaries.slice(0, -1).map((from, i) => bytes.subarray(from, boundaries[i + 1]).toString());

        // Assess
        expect(partitions.join('')).toBe(text);
        expect(partitions.flatMap(objects)).toEqual(objects(text));
      }),
      { numRuns: 200 },
    );
  });

  it('gives up at at + 2·maxRecordBytes − 1 on a line longer than that', async () => {
    // Prepare
    const bytes = bytesOf(`${'x'.repeat(100)}\n`);
    const { read } = reader(bytes);

    // Act
    const start = await findRecordStart(read, 10, { format: 'ndjson', objectSize: bytes.length, dataStart: 0, maxRecordBytes: 20 });

    // Assess
    expect(start).toBe(10 - 1 + 40);
  });
});

describe('ownRecordsStart: lines longer than maxRecordBytes', () => {
  it('tiles NDJSON with over-long lines so each line starts in exactly one partition and every short line is read whole once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 60 }),
        async (lengths, extra) => {
          // Prepare: maxRecordBytes 40, so many lines are over it; cut points 2·max + extra apart.
          const maxRecordBytes = 40;
          const text = lengths.map((n) => `${'x'.repeat(n)}\n`).join('');
          const bytes = bytesOf(text);
          const options: BoundaryOptions = { format: 'ndjson', objectSize: bytes.length, dataStart: 0, maxRecordBytes, windowBytes: 16 };
          const { read } = reader(bytes);
          const step = 2 * maxRecordBytes + extra;
          const cuts = [0];
          for (let at = step; at < bytes.length; at += step) cuts.push(at);
          cuts.push(bytes.length);

          // Act
          const ranges = [];
          for (let i = 0; i + 1 < cuts.length; i++) {
            const boundary = await findRecordStart(read, cuts[i]!, options);
            const end = Math.max(boundary, await findRecordStart(read, cuts[i + 1]!, options));
            ranges.push({ start: await ownRecordsStart(read, boundary, end, options), end });
          }

          // Assess: line starts (independently: after every LF) each fall in one range.
          const lineStarts: number[] = [];
          let at = 0;
          for (const n of lengths) {
            lineStarts.push(at);
            at += n + 1;
          }
          for (const [i, s] of lineStarts.entries()) {
            const holders = ranges.filter((r) => r.start <= s && s < r.end);
            expect(holders).toHaveLength(1);
            // A line within the limit lies wholly in its range.
            if (lengths[i]! + 1 <= maxRecordBytes) expect(s + lengths[i]! + 1).toBeLessThanOrEqual(holders[0]!.end);
          }
          // No range starts inside a line, except where a line longer than the limit is cut.
          for (const r of ranges) {
            if (r.start < r.end) expect(r.start === 0 || bytes[r.start - 1] === 0x0a).toBe(true);
          }
        },
      ),
    );
  });
});
