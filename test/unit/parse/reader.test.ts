import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderError } from '../../../lib/parse/header.ts';
import { MAX_RAW_CHARS, type RecordLayout } from '../../../lib/parse/sink.ts';
import { chunked, dialectBytes, escapingDialect, quote, quoteIn, referenceParse } from './csvText.ts';
import { bytesOf, read, salesLayout } from './readRecords.ts';

const layout = salesLayout;

/** A field written plainly when it can be, else (or sometimes anyway) quoted. */
const written = (value: string, quoted: boolean) => (quoted || /[",\r\n]/.test(value) || value === '' ? quote(value) : value);

const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/** A time as one of the ISO forms, with its epoch ms. */
const isoTime = fc
  .record({
    ms: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
    offsetMinutes: fc.integer({ min: -14 * 60, max: 14 * 60 }),
    form: fc.constantFrom('toISOString', 'offset', 'space', 'date'),
  })
  .map(({ ms, offsetMinutes, form }) => {
    if (form === 'toISOString') return { text: new Date(ms).toISOString(), ms };
    if (form === 'date') {
      const day = Math.floor(ms / 86_400_000) * 86_400_000;
      return { text: new Date(day).toISOString().slice(0, 10), ms: day };
    }
    const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 23);
    const zone = `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.trunc(offsetMinutes / 60))}:${pad(offsetMinutes % 60)}`;
    return { text: form === 'space' ? `${local.replace('T', ' ')}${zone}` : `${local}${zone}`, ms };
  });

const metricText = fc.oneof(
  fc.constant(''),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.double({ min: -1e9, max: 1e9, noNaN: true }).map((x) => x.toFixed(2)),
  // Within the magnitude bound (values.ts MAX_METRIC_MAGNITUDE); beyond it is a reject, tested apart.
  fc.double({ min: -1e135, max: 1e135, noNaN: true }).map(String),
);

const dimension = fc.string({ unit: 'grapheme', maxLength: 8 });

const row = fc.record({
  time: isoTime,
  region: dimension,
  product: dimension,
  amount: metricText,
  quantity: metricText,
  quoting: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
});

describe('createRecordReader (CSV)', () => {
  it('reads generated records into the values computed from what was written, in any chunking', () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }), fc.boolean(), (rows, sizes, crlf) => {
        // Prepare
        const text = rows
          .map((r) =>
            [r.time.text, r.region, r.product, r.amount, r.quantity].map((v, i) => written(v, r.quoting[i])).join(','),
          )
          .join(crlf ? '\r\n' : '\n');
        const metric = (t: string) => (t === '' ? NaN : Number(t));
        const expected = rows.map((r) => ({
          timeMs: r.time.ms,
          dims: [r.region, r.product],
          metrics: [metric(r.amount), metric(r.quantity)],
        }));

        // Act
        const result = read(layout, chunked(bytesOf(text), sizes));

        // Assess
        expect(result.rejected).toEqual([]);
        expect(result.accepted).toEqual(expected);
        expect(result.stats).toEqual({
          records: rows.length,
          rejected: 0,
          lines: text.split('\n').length - 1,
          bytes: bytesOf(text).length,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('reads generated records of any delimiter, quote, escape and line end into the values computed from what was written', () => {
    fc.assert(
      fc.property(escapingDialect, fc.array(row, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }), (d, rows, sizes) => {
        // Prepare
        const special = new RegExp(`[${d.delimiter === '\t' ? '\\t' : `\\${d.delimiter}`}\\${d.quote}\r\n]`);
        const writtenIn = (value: string, quoted: boolean) => (quoted || special.test(value) || value === '' ? quoteIn(value, d.quote, d.escape) : value);
        const lineEnd = d.lineEnd === 'cr' ? '\r' : '\n';
        const text = rows
          .map((r) => [r.time.text, r.region, r.product, r.amount, r.quantity].map((v, i) => writtenIn(v, r.quoting[i])).join(d.delimiter))
          .join(lineEnd);
        const metric = (t: string) => (t === '' ? NaN : Number(t));
        const expected = rows.map((r) => ({ timeMs: r.time.ms, dims: [r.region, r.product], metrics: [metric(r.amount), metric(r.quantity)] }));

        // Act
        const result = read({ ...layout, dialect: dialectBytes(d) }, chunked(bytesOf(text), sizes));

        // Assess
        expect(result.rejected).toEqual([]);
        expect(result.accepted).toEqual(expected);
        expect(result.stats.lines).toBe(text.split(lineEnd).length - 1);
      }),
      { numRuns: 300 },
    );
  });

  it('names the field and quotes the value of a reject in the dialect\'s own quote', () => {
    // Prepare
    const text = "2024-01-16T09:59:11.242Z;north;'p''8';'12x';3\r";

    // Act
    const { rejected } = read({ ...layout, dialect: { delimiter: 59, quote: 39, lineEnd: 13 } }, [bytesOf(text)]);

    // Assess
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([[1, 'field "amount": "12x" is not a number']]);
  });

  it('maps columns by name, whatever their order, and ignores the others', () => {
    // Prepare
    const shuffled: RecordLayout = { ...layout, columns: ['quantity', 'note', 'product', 'ts', 'amount', 'region'] };
    const text = '3,"a, b",p8,2024-01-16T09:59:11.242Z,155.26,north\n';

    // Act
    const { accepted } = read(shuffled, [bytesOf(text)]);

    // Assess
    expect(accepted).toEqual([{ timeMs: Date.parse('2024-01-16T09:59:11.242Z'), dims: ['north', 'p8'], metrics: [155.26, 3] }]);
  });

  it('reads epoch seconds and milliseconds', () => {
    // Prepare
    const text = '1700000000.5,n,p,1,2\n';

    // Act
    const seconds = read({ ...layout, timeFormat: 'epoch_s' }, [bytesOf(text)]);
    const millis = read({ ...layout, timeFormat: 'epoch_ms' }, [bytesOf(text)]);

    // Assess
    expect(seconds.accepted[0].timeMs).toBe(1_700_000_000_500);
    expect(millis.accepted[0].timeMs).toBe(1_700_000_000.5);
  });

  it.each([
    ['a metric that is not a number', '2024-01-01,n,p,12x,1', 'field "amount": "12x" is not a number'],
    ['a quoted metric that is not a number', '2024-01-01,n,p,1,"1.2.3"', 'field "quantity": "1.2.3" is not a number'],
    ['an escaped quote in a metric', '2024-01-01,n,p,"1""",2', 'field "amount": "1\\"" is not a number'],
    ['an invalid time', '2024-13-01,n,p,1,2', 'field "ts": "2024-13-01" is not a valid iso timestamp'],
    ['an empty time', ',n,p,1,2', 'missing time: field "ts" is empty'],
    ['an empty quoted time', '"",n,p,1,2', 'missing time: field "ts" is empty'],
    ['too few fields', '2024-01-01,n,p,1', 'expected 5 fields, found 4'],
    ['too many fields', '2024-01-01,n,p,1,2,3', 'expected 5 fields, found 6'],
    ['a quote inside an unquoted field', '2024-01-01,no"rth,p,1,2', 'field "region": "no\\"rth" has a quote inside an unquoted field'],
    ['text after a closing quote', '2024-01-01,"no"rth,p,1,2', 'field "region": "\\"no\\"rth" has text after its closing quote'],
    ['a stray quote in an extra field', '2024-01-01,n,p,1,2,x"y', 'expected 5 fields, found 6'],
  ])('rejects %s, naming the field and the value', (_, line, reason) => {
    // Prepare
    const text = `2024-01-01,n,p,1,2\n${line}\n2024-01-02,n,p,1,2\n`;

    // Act
    const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), [3]), 1000);

    // Assess
    expect(rejected).toEqual([{ line: 2, offset: 1000 + text.indexOf('\n') + 1, reason, raw: line }]);
    expect(accepted.map((a) => a.timeMs)).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2)]);
    expect(stats).toEqual({ records: 3, rejected: 1, lines: 3, bytes: bytesOf(text).length });
  });

  it.each([
    ['epoch_s', 'x1', 'field "ts": "x1" is not a valid epoch_s timestamp'],
    ['epoch_ms', '1e20', 'field "ts": "1e20" is not a valid epoch_ms timestamp'],
  ] as const)('rejects a time that is not valid %s', (timeFormat, time, reason) => {
    // Act
    const { rejected } = read({ ...layout, timeFormat }, [bytesOf(`${time},n,p,1,2\n`)]);

    // Assess
    expect(rejected.map((r) => r.reason)).toEqual([reason]);
  });

  it('rejects the trailing fragment when the range ends inside a quoted field', () => {
    // Prepare
    const text = '2024-01-01,n,p,1,2\n2024-01-01,"n\n2024-01-02,n,p,1,2\n';

    // Act
    const { accepted, rejected, stats } = read(layout, [bytesOf(text)]);

    // Assess
    // The open quote ends its record at the line end after it; the next line is read as a record.
    expect(accepted.map((a) => a.timeMs)).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2)]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ line: 2, offset: 19, raw: '2024-01-01,"n' });
    expect(rejected[0].reason).toMatch(/^field "region": quoted field "\\"n" is not closed within 1048576 bytes or the range/);
    expect(stats.records).toBe(3);
  });

  it('names an open quoted field past the header\'s columns without quoting bytes it has no position for', () => {
    // Prepare: a sixth field opens a quote the range never closes.
    const text = '2024-01-01,n,p,1,2,"x\n2024-01-02,n,p,1,2\n';

    // Act
    const { accepted, rejected } = read(layout, [bytesOf(text)]);

    // Assess: before, the reason quoted the scanner's whole buffer (uninitialized bytes included).
    expect(accepted).toHaveLength(1);
    expect(rejected.map((r) => r.reason)).toEqual(['field 6: quoted field is not closed within 1048576 bytes or the range; the record ends at the line end after its opening quote']);
  });

  it('rejects a record longer than maxRecordBytes with its line and offset, and reads on', () => {
    // Prepare
    const long = `2024-01-01,"${'€'.repeat(3000)}",p,1,2`;
    const text = `2024-01-01,n,p,1,2\n${long}\n2024-01-02,n,p,1,2\n`;

    // Act
    const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), [100]), 5, 200);

    // Assess
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ line: 2, offset: 5 + 19, reason: 'record exceeds 200 bytes' });
    expect(rejected[0].raw).toBe(long.slice(0, MAX_RAW_CHARS));
    expect(accepted).toHaveLength(2);
    expect(stats.records).toBe(3);
  });

  it('truncates the raw text of a rejected record to MAX_RAW_CHARS', () => {
    // Prepare
    const line = `2024-01-01,${'x'.repeat(5000)},p,1`;

    // Act
    const { rejected } = read(layout, [bytesOf(`${line}\n`)]);

    // Assess
    expect(rejected[0].raw).toBe(line.slice(0, MAX_RAW_CHARS));
  });

  it('counts lines from the start of the range, quoted line breaks and blank lines included', () => {
    // Prepare
    const text = '\n2024-01-01,"a\nb",p,1,2\r\n\r\n2024-01-01,n,p,x,2\n';

    // Act
    const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), [1]));

    // Assess
    expect(accepted[0].dims).toEqual(['a\nb', 'p']);
    expect(rejected.map((r) => r.line)).toEqual([5]);
    expect(stats.lines).toBe(5);
  });

  it('gives every generated record to the sink exactly once: records = accepted + rejected', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[0-9a-z,"\n.:-]{0,30}$/), { maxLength: 10 }), (lines) => {
        // Prepare
        const text = lines.join('\n');
        let expectedRecords: number;
        try {
          expectedRecords = referenceParse(text).length;
        } catch {
          // Malformed for csv-parse too: only the identity is checked.
          expectedRecords = -1;
        }

        // Act
        const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), [2]));

        // Assess
        expect(stats.records).toBe(accepted.length + rejected.length);
        expect(stats.rejected).toBe(rejected.length);
        if (expectedRecords >= 0) expect(stats.records).toBe(expectedRecords);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a layout whose columns the header lacks', () => {
    // Act
    const create = () => read({ ...layout, columns: ['ts', 'region'] }, []);

    // Assess
    expect(create).toThrow(HeaderError);
    expect(create).toThrow('"product", "amount", "quantity"');
  });
});

describe('createRecordReader: an unterminated quoted field in a record past maxRecordBytes', () => {
  it('gives the same reason whatever records came before it (fast-check found the field quoted from another record)', () => {
    // Prepare: a record of 9 bytes whose second field opens a quote it never closes, limit 8.
    const layout: RecordLayout = { format: 'csv', columns: ['ts', 'x'], timeColumn: 'ts', timeFormat: 'epoch_ms', dimensions: ['x'], metrics: [] };
    const record = '"\n","a\r\r0';

    // Act
    const alone = read(layout, [bytesOf(record)], 0, 8).rejected;
    const after = read(layout, [bytesOf(`yyyy\n,0\n${record}`)], 0, 8).rejected;

    // Assess: the field's bytes are not kept past the limit, so the reason names the field only.
    expect(alone.map((r) => r.reason)).toEqual(['field "x": unterminated quoted field']);
    expect(after.at(-1)!.reason).toBe(alone[0]!.reason);
    expect(after.at(-1)!.line).toBe(3);
  });
});
