import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_RAW_CHARS, type RecordLayout } from '../../../lib/parse/sink.ts';
import { chunked } from './csvText.ts';
import { bytesOf, read } from './readRecords.ts';

const layout: RecordLayout = {
  format: 'ndjson',
  columns: [],
  timeColumn: 'ts',
  timeFormat: 'iso',
  dimensions: ['region', 'constructor'],
  metrics: ['amount', 'quantity'],
};

const dimensionValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 6 }).map((v) => ({ json: v as unknown, value: v })),
  fc.integer().map((v) => ({ json: v as unknown, value: String(v) })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => ({ json: v as unknown, value: String(v) })),
  fc.boolean().map((v) => ({ json: v as unknown, value: String(v) })),
  fc.constant({ json: null as unknown, value: '' }),
  fc.constant({ json: undefined as unknown, value: '' }),
);

const metricValue = fc.oneof(
  // Within the magnitude bound (values.ts MAX_METRIC_MAGNITUDE); beyond it is a reject, tested apart.
  fc.double({ min: -1e135, max: 1e135, noNaN: true }).map((v) => ({ json: v as unknown, value: v + 0 })),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => ({ json: v.toFixed(3) as unknown, value: Number(v.toFixed(3)) })),
  fc.constantFrom(null, undefined, '').map((v) => ({ json: v as unknown, value: NaN })),
);

const row = fc.record({
  ms: fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }),
  region: dimensionValue,
  other: dimensionValue,
  amount: metricValue,
  quantity: metricValue,
  extra: fc.jsonValue(),
});

describe('createRecordReader (NDJSON)', () => {
  it('reads generated objects into the values they were built from, in any chunking and line ends', () => {
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
        fc.constantFrom('\n', '\r\n', '\n\n'),
        (rows, sizes, lineEnd) => {
          // Prepare
          const text = rows
            .map((r) =>
              JSON.stringify({
                extra: r.extra,
                ts: new Date(r.ms).toISOString(),
                region: r.region.json,
                constructor: r.other.json,
                amount: r.amount.json,
                quantity: r.quantity.json,
              }),
            )
            .join(lineEnd);
          const expected = rows.map((r) => ({
            timeMs: r.ms,
            dims: [r.region.value, r.other.value],
            metrics: [r.amount.value, r.quantity.value],
          }));

          // Act
          const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), sizes));

          // Assess
          expect(rejected).toEqual([]);
          expect(accepted).toEqual(expected);
          expect(stats).toEqual({ records: rows.length, rejected: 0, lines: text.split('\n').length - 1, bytes: bytesOf(text).length });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads epoch times given as numbers or as numeric strings', () => {
    // Prepare
    const text = '{"ts":1700000000.123}\n{"ts":"1700000000"}\n{"ts":1.7e9}\n';

    // Act
    const seconds = read({ ...layout, timeFormat: 'epoch_s' }, [bytesOf(text)]);
    const millis = read({ ...layout, timeFormat: 'epoch_ms' }, [bytesOf('{"ts":1700000000123}\n')]);

    // Assess
    expect(seconds.accepted.map((a) => a.timeMs)).toEqual([1_700_000_000_123, 1_700_000_000_000, 1_700_000_000_000_000 / 1000]);
    expect(millis.accepted.map((a) => a.timeMs)).toEqual([1_700_000_000_123]);
  });

  it.each([
    ['invalid JSON', '{"ts":', /^invalid JSON: /],
    ['an array', '[1,2]', /^expected a JSON object, found \[1,2\]$/],
    ['a string', '"x"', /^expected a JSON object, found "x"$/],
    ['null', 'null', /^expected a JSON object, found null$/],
    ['a missing time', '{"amount":1}', /^missing time: field "ts" is missing$/],
    ['a null time', '{"ts":null}', /^missing time: field "ts" is null$/],
    ['an empty time', '{"ts":""}', /^missing time: field "ts" is empty$/],
    ['an invalid time', '{"ts":"2024-02-30"}', /^field "ts": "2024-02-30" is not a valid iso timestamp$/],
    ['a number as an iso time', '{"ts":1700000000}', /^field "ts": 1700000000 is not a valid iso timestamp$/],
    ['a boolean time', '{"ts":true}', /^field "ts": true is not a valid iso timestamp$/],
    ['an object dimension', '{"ts":"2024-01-01","region":{"a":1}}', /^field "region": \{"a":1\} is not a dimension value/],
    ['an array dimension', '{"ts":"2024-01-01","constructor":[1]}', /^field "constructor": \[1\] is not a dimension value/],
    ['a non-numeric metric string', '{"ts":"2024-01-01","amount":"12x"}', /^field "amount": "12x" is not a number$/],
    ['a boolean metric', '{"ts":"2024-01-01","quantity":false}', /^field "quantity": false is not a number$/],
    ['an object metric', '{"ts":"2024-01-01","amount":{}}', /^field "amount": \{\} is not a number$/],
    ['an infinite metric', '{"ts":"2024-01-01","amount":1e400}', /^field "amount": Infinity is beyond the magnitude bound ±1e135/],
    ['whitespace only', '  ', /^invalid JSON: /],
  ])('rejects %s, naming the field and the value', (_, line, reason) => {
    // Prepare
    const text = `{"ts":"2024-01-01"}\n${line}\r\n{"ts":"2024-01-02"}`;

    // Act
    const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), [4]), 100);

    // Assess
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ line: 2, offset: 100 + text.indexOf('\n') + 1, raw: line });
    expect(rejected[0].reason).toMatch(reason);
    expect(accepted.map((a) => a.timeMs)).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2)]);
    expect(stats).toEqual({ records: 3, rejected: 1, lines: 2, bytes: bytesOf(text).length });
  });

  it('rejects a line longer than maxRecordBytes without buffering it, within a chunk or across many', () => {
    // Prepare
    const long = JSON.stringify({ ts: '2024-01-01', region: 'é'.repeat(5000) });
    const text = `{"ts":"2024-01-01"}\n${long}\n{"ts":"2024-01-02"}\n`;

    for (const sizes of [[text.length], [64], [1000]]) {
      // Act
      const { accepted, rejected, stats } = read(layout, chunked(bytesOf(text), sizes), 0, 500);

      // Assess
      expect(rejected).toEqual([{ line: 2, offset: 20, reason: 'record exceeds 500 bytes', raw: long.slice(0, MAX_RAW_CHARS) }]);
      expect(accepted).toHaveLength(2);
      expect(stats.records).toBe(3);
    }
  });

  it('skips a UTF-8 BOM at the start of the object only', () => {
    // Prepare
    const text = '\uFEFF{"ts":"2024-01-01"}\n';

    // Act
    const atStart = read(layout, [bytesOf(text)], 0);
    const elsewhere = read(layout, [bytesOf(text)], 10);

    // Assess
    expect(atStart.accepted).toHaveLength(1);
    expect(elsewhere.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/^invalid JSON/)]);
  });

  it('reads a final line without a line end, and skips blank lines while counting them', () => {
    // Prepare
    const text = '\n\r\n{"ts":"2024-01-01"}\n\n{"ts":"2024-01-02"}';

    // Act
    const { accepted, stats } = read(layout, chunked(bytesOf(text), [1]));

    // Assess
    expect(accepted.map((a) => a.timeMs)).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2)]);
    expect(stats).toEqual({ records: 2, rejected: 0, lines: 4, bytes: bytesOf(text).length });
  });
});
