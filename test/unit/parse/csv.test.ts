import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvProblem, FieldQuoting, RFC_4180, createCsvScanner, type CsvDialect, type CsvRecord } from '../../../lib/parse/csv.ts';
import { chunked, csvText, dialectBytes, escapingDialect, referenceParse } from './csvText.ts';

interface Scanned {
  fields: string[];
  problem: CsvProblem;
  problemField: number;
  line: number;
  offset: number;
  size: number;
  raw: string;
  rawBytes: number;
}

/** Scans chunks and decodes every record's fields (a doubled quote read as one; with a backslash escape, the escaped character). */
function scan(chunks: readonly Uint8Array[], maxRecordBytes = 1 << 20, dialect: CsvDialect = RFC_4180): { records: Scanned[]; lines: number; bytes: number } {
  const records: Scanned[] = [];
  const q = String.fromCharCode(dialect.quote);
  const scanner = createCsvScanner({ storedFields: Infinity, maxRecordBytes, dialect }, (r: CsvRecord) => {
    const fields: string[] = [];
    if (r.problem !== CsvProblem.tooLong) {
      for (let i = 0; i < r.fieldCount; i++) {
        const text = r.bytes.toString('utf8', r.starts[i], r.ends[i]);
        fields.push(r.quoting[i] !== FieldQuoting.quotedEscaped ? text : dialect.escape === 92 ? text.replace(/\\([\s\S])/gu, '$1') : text.replaceAll(q + q, q));
      }
    }
    records.push({
      fields,
      problem: r.problem,
      problemField: r.problemField,
      line: r.line,
      offset: r.offset,
      size: r.size,
      raw: r.bytes.toString('utf8', r.start, r.end),
      rawBytes: r.end - r.start,
    });
  });
  for (const chunk of chunks) scanner.push(chunk);
  scanner.end();
  return { records, lines: scanner.lines, bytes: scanner.bytes };
}

const fieldsOf = (result: { records: Scanned[] }) => result.records.map((r) => r.fields);
const bytesOf = (text: string) => Buffer.from(text, 'utf8');

const EDGE_CASES = [
  'a,b\nc,d\n',
  'a,"b,c"\n',
  '"a\nb",c\n',
  '"a\r\nb",c\r\n',
  '"say ""hi""",x\n',
  '"""",""""""\n',
  ',,\n',
  '"",""\n',
  'a,b\r\nc,d\r\n',
  'a,b\nc,d',
  'a,"b"',
  'a,b\r\nc,"d"\r\n',
  ' a , b \n',
  'é,€,😀\n"ü,😀",x\n',
  'a,b\n\nc,d\n\n\n',
  'a,b\r\n\r\nc,d\r\n',
  '\n\na,b\n',
  'a,\n',
  'a,""\r\n',
  'a\rb,c\n',
  'x',
];

describe('createCsvScanner', () => {
  it('reads generated valid CSV as csv-parse does, whole, byte by byte and in random chunks', () => {
    fc.assert(
      fc.property(
        csvText({ columns: 3 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        ({ text }, sizes) => {
          // Prepare
          const bytes = bytesOf(text);
          const expected = referenceParse(text);

          // Act
          const whole = scan([bytes]);
          const byteByByte = scan(chunked(bytes, [1]));
          const random = scan(chunked(bytes, sizes));

          // Assess
          expect(fieldsOf(whole)).toEqual(expected);
          expect(fieldsOf(byteByByte)).toEqual(expected);
          expect(fieldsOf(random)).toEqual(expected);
          expect(whole.records.every((r) => r.problem === CsvProblem.none)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads generated valid CSV of any delimiter, quote, escape and line end (LF, CRLF, CR alone) as csv-parse does, in any chunking', () => {
    fc.assert(
      fc.property(
        escapingDialect.chain((dialect) => fc.tuple(fc.constant(dialect), csvText({ columns: 3, dialect }))),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        ([dialect, { text, records }], sizes) => {
          // Prepare
          const bytes = bytesOf(text);
          const expected = referenceParse(text, dialect);

          // Act
          const whole = scan([bytes], 1 << 20, dialectBytes(dialect));
          const byteByByte = scan(chunked(bytes, [1]), 1 << 20, dialectBytes(dialect));
          const random = scan(chunked(bytes, sizes), 1 << 20, dialectBytes(dialect));

          // Assess: csv-parse agrees with the values the generator wrote, and so do we.
          expect(expected).toEqual(records);
          expect(fieldsOf(whole)).toEqual(expected);
          expect(fieldsOf(byteByByte)).toEqual(expected);
          expect(fieldsOf(random)).toEqual(expected);
          expect(whole.records.every((r) => r.problem === CsvProblem.none)).toBe(true);
          // Lines are the dialect's line end bytes, quoted ones included.
          expect(whole.lines).toBe(text.split(dialect.lineEnd === 'cr' ? '\r' : '\n').length - 1);
        },
      ),
      { numRuns: 400 },
    );
  });

  it.each([
    ['a tab', 'a\t"b\tc"\td\n', { delimiter: 9, quote: 34, lineEnd: 10 }, [['a', 'b\tc', 'd']]],
    ['a semicolon, a comma being data', '1,5;"x;y";2\r\n', { delimiter: 59, quote: 34, lineEnd: 10 }, [['1,5', 'x;y', '2']]],
    ["a single quote", "'it''s',\"q\"\n", { delimiter: 44, quote: 39, lineEnd: 10 }, [["it's", '"q"']]],
    ['CR alone, a LF being data', 'a,b\rc\nd,"e\rf"\r\rg,h', { delimiter: 44, quote: 34, lineEnd: 13 }, [['a', 'b'], ['c\nd', 'e\rf'], ['g', 'h']]],
    ['CR alone, a quoted field closed at the line end', '"a",b\r"c"\r', { delimiter: 44, quote: 34, lineEnd: 13 }, [['a', 'b'], ['c']]],
  ])('reads a dialect with %s as written', (_, text, dialect, expected) => {
    // Prepare
    const bytes = bytesOf(text);

    for (let cut = 0; cut <= bytes.length; cut++) {
      // Act
      const result = scan([bytes.subarray(0, cut), bytes.subarray(cut)], 1 << 20, dialect as CsvDialect);

      // Assess
      expect(fieldsOf(result)).toEqual(expected);
      expect(result.records.every((r) => r.problem === CsvProblem.none)).toBe(true);
    }
  });

  it.each([
    ['an escaped quote and an escaped escape', '"a\\"b","c\\\\",d\n', [['a"b', 'c\\', 'd']]],
    ['an escape before other bytes (dropped, the byte kept, a line end included)', '"\\x\\\n",y\n', [['x\n', 'y']]],
    ['an escape outside quotes (data)', 'a\\b,c\\\n', [['a\\b', 'c\\']]],
  ])('reads a backslash escape: %s, as csv-parse does', (_, text, expected) => {
    // Prepare
    const bytes = bytesOf(text);
    const reference = referenceParse(text, { delimiter: ',', quote: '"', lineEnd: 'lf', escape: '\\' });

    for (let cut = 0; cut <= bytes.length; cut++) {
      // Act
      const result = scan([bytes.subarray(0, cut), bytes.subarray(cut)], 1 << 20, { ...RFC_4180, escape: 92 });

      // Assess
      expect(reference).toEqual(expected);
      expect(fieldsOf(result)).toEqual(expected);
    }
  });

  it('with a backslash escape, reads a doubled quote as a closing quote followed by text', () => {
    // Act
    const { records } = scan([bytesOf('"a""b",c\n')], 1 << 20, { ...RFC_4180, escape: 92 });

    // Assess
    expect(records.map((r) => [r.problem, r.problemField])).toEqual([[CsvProblem.textAfterQuote, 0]]);
  });

  it('reports a stray quote and text after a closing quote in the dialect\'s own quote', () => {
    // Act
    const { records } = scan([bytesOf("a;b'c\r'x'y;z\r")], 1 << 20, { delimiter: 59, quote: 39, lineEnd: 13 });

    // Assess
    expect(records.map((r) => [r.problem, r.problemField])).toEqual([
      [CsvProblem.strayQuote, 1],
      [CsvProblem.textAfterQuote, 0],
    ]);
  });

  it.each(EDGE_CASES)('reads %j as csv-parse does, split at every byte', (text) => {
    // Prepare
    const bytes = bytesOf(text);
    const expected = referenceParse(text);

    for (let cut = 0; cut <= bytes.length; cut++) {
      // Act
      const result = scan([bytes.subarray(0, cut), bytes.subarray(cut)]);

      // Assess
      expect(fieldsOf(result)).toEqual(expected);
    }
  });

  it('counts every LF as a line, quoted and blank ones too, and gives each record its first line', () => {
    // Prepare
    const text = 'a,b\n\n"x\ny",c\r\n\r\nd,e';

    // Act
    const result = scan(chunked(bytesOf(text), [3]));

    // Assess
    expect(result.lines).toBe(text.split('\n').length - 1);
    expect(result.records.map((r) => r.line)).toEqual([1, 3, 6]);
    expect(result.bytes).toBe(bytesOf(text).length);
  });

  it('gives each record its stream offset and size, so records and blank lines tile the input', () => {
    fc.assert(
      fc.property(csvText({ columns: 2 }), fc.integer({ min: 1, max: 7 }), ({ text }, size) => {
        // Prepare
        const bytes = bytesOf(text);

        // Act
        const { records } = scan(chunked(bytes, [size]));

        // Assess: the bytes between records are blank lines only.
        let at = 0;
        for (const record of records) {
          expect(bytes.subarray(at, record.offset).toString('latin1')).toMatch(/^(\r?\n)*$/);
          expect(bytes.subarray(record.offset, record.offset + record.rawBytes).toString()).toBe(record.raw);
          at = record.offset + record.size;
        }
        expect(bytes.subarray(at).toString('latin1')).toMatch(/^(\r?\n)*\r?$/);
      }),
      { numRuns: 200 },
    );
  });

  it.each([
    ['a quote inside an unquoted field', 'ab"c,d\nx,y\n', CsvProblem.strayQuote, 0],
    ['a quote ending an unquoted field', 'a,b"\nx,y\n', CsvProblem.strayQuote, 1],
    ['text after a closing quote', '"ab"c,d\nx,y\n', CsvProblem.textAfterQuote, 0],
    ['a space after a closing quote', 'a,"b" \nx,y\n', CsvProblem.textAfterQuote, 1],
    ['a CR and text after a closing quote', 'a,"b"\rc\nx,y\n', CsvProblem.textAfterQuote, 1],
  ] as const)('reports %s, resumes at the record end and reads the next record', (_, text, problem, field) => {
    for (const chunks of [[bytesOf(text)], chunked(bytesOf(text), [1])]) {
      // Act
      const { records } = scan(chunks);

      // Assess
      expect(records).toHaveLength(2);
      expect(records[0]).toMatchObject({ problem, problemField: field, line: 1, raw: text.slice(0, text.indexOf('\n')) });
      expect(records[1]).toMatchObject({ fields: ['x', 'y'], problem: CsvProblem.none, line: 2 });
    }
  });

  it('rejects the trailing fragment of input that ends inside a quoted field', () => {
    // Prepare
    const text = 'a,b\nc,"d\ne,f\n';

    // Act
    const { records } = scan(chunked(bytesOf(text), [2]));

    // Assess
    // The open quote ends its record at the line end after it; scanning resumes on the next line.
    expect(records).toHaveLength(3);
    expect(records[1]).toMatchObject({ problem: CsvProblem.openQuote, problemField: 1, line: 2, raw: 'c,"d', size: 5 });
    expect(records[2]).toMatchObject({ problem: CsvProblem.none, fields: ['e', 'f'], line: 3 });
  });

  it('flags a record longer than maxRecordBytes, within one chunk or across many, and reads on', () => {
    // Prepare
    const long = `${'x'.repeat(50)},"${'y,'.repeat(30)}"`;
    const text = `a,b\n${long}\nc,d\n`;
    const maxRecordBytes = 20;

    for (const sizes of [[text.length], [1], [7]]) {
      // Act
      const { records, lines } = scan(chunked(bytesOf(text), sizes), maxRecordBytes);

      // Assess
      expect(records.map((r) => r.problem)).toEqual([CsvProblem.none, CsvProblem.tooLong, CsvProblem.none]);
      expect(records[1]).toMatchObject({ line: 2, offset: 4, size: long.length + 1 });
      expect(records[1].raw.startsWith('x'.repeat(20))).toBe(true);
      expect(records[2]).toMatchObject({ fields: ['c', 'd'], line: 3 });
      expect(lines).toBe(3);
    }
  });

  it('ends a record whose quoted field is still open past maxRecordBytes at the line end after its opening quote, in any chunking', () => {
    // Prepare: a stray opening quote, 20 good records, a quoted line break within the limit, CRLF.
    const good = Array.from({ length: 20 }, (_, i) => `d${i},e\r\n`).join('');
    const text = `a,b\r\nc,"oops\r\n${good}x,"1\n2"\nf,g\n`;
    const maxRecordBytes = 20;

    for (const sizes of [[text.length], [1], [3], [7], [19]]) {
      // Act
      const { records, lines } = scan(chunked(bytesOf(text), sizes), maxRecordBytes);

      // Assess: one record lost to the quote, every other record read as written, lines exact.
      expect(records[1]).toMatchObject({ problem: CsvProblem.openQuote, problemField: 1, line: 2, offset: 5, raw: 'c,"oops', size: 9 });
      expect(fieldsOf({ records: records.filter((r) => r.problem === CsvProblem.none) })).toEqual([
        ['a', 'b'],
        ...Array.from({ length: 20 }, (_, i) => [`d${i}`, 'e']),
        ['x', '1\n2'],
        ['f', 'g'],
      ]);
      expect(records.map((r) => r.line)).toEqual([1, 2, ...Array.from({ length: 20 }, (_, i) => i + 3), 23, 25]);
      expect(records.reduce((sum, r) => sum + r.size, 0)).toBe(text.length);
      expect(lines).toBe(25);
    }
  });

  it('ends a record at the line end after its open quote when the field closes past maxRecordBytes, however the bytes arrive', () => {
    // Prepare: the field holds a line break within the limit and closes past it. Read in one chunk,
    // the scanner used to see the closing quote before any check and read one record too long,
    // while in small chunks it cut at the line break: the gzip cutter and the reader could disagree.
    const text = `a,"x\n${'y'.repeat(30)}",b\nc,d\n`;
    const maxRecordBytes = 20;

    for (const sizes of [[text.length], [1], [5], [25]]) {
      // Act
      const { records } = scan(chunked(bytesOf(text), sizes), maxRecordBytes);

      // Assess
      expect(records.map((r) => [r.line, r.problem])).toEqual([
        [1, CsvProblem.openQuote],
        [2, CsvProblem.tooLong],
        [3, CsvProblem.none],
      ]);
    }
  });

  it('cuts each of several open quotes, also one in a record already too long, and one at the end of the input', () => {
    // Prepare: each open quote's next line is long enough to take its record past the limit (10),
    // except the last, which the end of the input cuts.
    const text = `${'z'.repeat(30)},"a\nq,"b\nok,12345\n"tail\nlast,2\n"end\nafter,3`;

    for (const sizes of [[text.length], [1], [5]]) {
      // Act
      const { records } = scan(chunked(bytesOf(text), sizes), 10);

      // Assess
      expect(records.map((r) => [r.problem, r.line])).toEqual([
        [CsvProblem.openQuote, 1],
        [CsvProblem.openQuote, 2],
        [CsvProblem.none, 3],
        [CsvProblem.openQuote, 4],
        [CsvProblem.none, 5],
        [CsvProblem.openQuote, 6],
        [CsvProblem.none, 7],
      ]);
      expect(records.reduce((sum, r) => sum + r.size, 0)).toBe(text.length);
      expect(records.at(-1)!.fields).toEqual(['after', '3']);
    }
  });

  it('keeps at most the first 4000 bytes of a record too long to buffer', () => {
    // Prepare
    const text = `${'z'.repeat(1 << 20)}\nok\n`;

    // Act
    const { records } = scan(chunked(bytesOf(text), [65_536]), 1000);

    // Assess
    expect(records[0].problem).toBe(CsvProblem.tooLong);
    expect(records[0].rawBytes).toBe(4000);
    expect(records[0].size).toBe((1 << 20) + 1);
    expect(records[1].fields).toEqual(['ok']);
  });

  it('accepts a record of exactly maxRecordBytes, line end included', () => {
    // Prepare
    const text = 'abc,de\r\nabc,def\r\n';

    // Act
    const { records } = scan([bytesOf(text)], 8);

    // Assess
    expect(records.map((r) => r.problem)).toEqual([CsvProblem.none, CsvProblem.tooLong]);
  });

  it('keeps only storedFields positions but counts every field', () => {
    // Prepare
    const seen: number[][] = [];
    const scanner = createCsvScanner({ storedFields: 2, maxRecordBytes: 100 }, (r) => {
      seen.push([r.fieldCount, r.ends[1] - r.starts[1]]);
    });

    // Act
    scanner.push(bytesOf('a,bb,c,d\n'));
    scanner.end();

    // Assess
    expect(seen).toEqual([[4, 2]]);
  });
});
