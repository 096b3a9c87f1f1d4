import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_VALUE_OPTIONS, type RecordLayout, type ValueOptions } from '../../../lib/parse/sink.ts';
import { chunked, quote, referenceParse } from './csvText.ts';
import { bytesOf, read, salesLayout } from './readRecords.ts';

// nullValues, the number notation and onInvalidValue through the readers. Expectations come from
// csv-parse's reading of the same text (referenceParse) and the rules the README states.

const R_NULLS = ['', 'NA', 'NULL', '\\N'];
const values = (options: Partial<ValueOptions>): ValueOptions => ({ ...DEFAULT_VALUE_OPTIONS, ...options });

/** A metric as written: a number, a null value, or something that is not a number. */
const metricText = fc.oneof(
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((x) => x.toFixed(3)),
  fc.constantFrom(...R_NULLS),
  fc.constantFrom('n/a', '12x', 'NaN', '1e400', '-'),
);
const dimensionText = fc.oneof(fc.constantFrom('north', 'south', 'é€', 'NA', 'NULL', '\\N', ''), fc.stringMatching(/^[a-z]{1,5}$/));

const row = fc.record({
  ms: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
  region: dimensionText,
  product: dimensionText,
  amount: metricText,
  quantity: metricText,
  quoting: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
});

const isNumber = (t: string) => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) && Math.abs(Number(t)) <= 1e135;

describe('nullValues and onInvalidValue (CSV)', () => {
  it.each(['reject', 'null'] as const)('reads generated R-style records as csv-parse and the rules say, onInvalidValue %j', (policy) => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 25 }), fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1 }), (rows, sizes) => {
        // Prepare
        const layout: RecordLayout = { ...salesLayout, values: values({ nullValues: R_NULLS, onInvalidValue: policy }) };
        const text = rows
          .map((r) => [new Date(r.ms).toISOString(), r.region, r.product, r.amount, r.quantity].map((v, i) => (r.quoting[i] || v === '' ? quote(v) : v)).join(','))
          .join('\n');
        const expectedAccepted: { timeMs: number; dims: string[]; metrics: number[] }[] = [];
        const nulled: Record<string, number> = {};
        let rejected = 0;
        for (const [ts, region, product, amount, quantity] of referenceParse(text)) {
          const metric = (t: string) => (R_NULLS.includes(t) ? NaN : isNumber(t) ? Number(t) : undefined);
          const m = [metric(amount), metric(quantity)];
          if (policy === 'reject' && m.includes(undefined)) {
            rejected++;
            continue;
          }
          (['amount', 'quantity'] as const).forEach((name, i) => {
            if (m[i] === undefined) nulled[name] = (nulled[name] ?? 0) + 1;
          });
          const dims = [region, product].map((d) => (R_NULLS.includes(d) ? '' : d));
          expectedAccepted.push({ timeMs: Date.parse(ts), dims, metrics: m.map((v) => v ?? NaN) });
        }

        // Act
        const result = read(layout, chunked(bytesOf(text), sizes));

        // Assess
        expect(result.accepted).toEqual(expectedAccepted);
        expect(result.rejected.length).toBe(rejected);
        expect(result.stats.valuesNulled ?? {}).toEqual(nulled);
        expect(result.stats.records).toBe(rows.length);
      }),
      { numRuns: 200 },
    );
  });

  it('names the field and the value of a metric that is not a number under "reject"', () => {
    // Prepare
    const layout: RecordLayout = { ...salesLayout, values: values({ nullValues: R_NULLS }) };
    const text = '2024-01-01T00:00:00Z,n,p,NA,n/a\n';

    // Act
    const { rejected, accepted } = read(layout, [bytesOf(text)]);

    // Assess
    expect(accepted).toEqual([]);
    expect(rejected).toEqual([{ line: 1, offset: 0, reason: 'field "quantity": "n/a" is not a number', raw: text.trimEnd() }]);
  });

  it('always rejects a time that is a null value or invalid, under "null" too', () => {
    // Prepare
    const layout: RecordLayout = { ...salesLayout, values: values({ nullValues: R_NULLS, onInvalidValue: 'null' }) };
    const text = 'NA,n,p,1,2\n"",n,p,1,2\nyesterday,n,p,1,2\n';

    // Act
    const { rejected, accepted, stats } = read(layout, [bytesOf(text)]);

    // Assess
    expect(accepted).toEqual([]);
    expect(rejected.map((r) => r.reason)).toEqual([
      'missing time: field "ts" is "NA", a null value',
      'missing time: field "ts" is empty',
      'field "ts": "yesterday" is not a valid iso timestamp',
    ]);
    expect(stats.valuesNulled).toBeUndefined();
  });

  it('counts an empty field as not a number when "" is not among nullValues', () => {
    // Prepare
    const layout: RecordLayout = { ...salesLayout, values: values({ nullValues: ['NA'] }) };
    const text = '2024-01-01T00:00:00Z,n,p,,NA\n';

    // Act
    const { rejected } = read(layout, [bytesOf(text)]);

    // Assess
    expect(rejected.map((r) => r.reason)).toEqual(['field "amount": "" is not a number']);
  });

  it('nulls a dimension value that cannot be stored under "null", and counts it', () => {
    // Prepare
    const layout: RecordLayout = { ...salesLayout, values: values({ onInvalidValue: 'null' }) };
    const long = 'x'.repeat(1025);
    const text = `2024-01-01T00:00:00Z,${long},p,1,2\n`;

    // Act
    const { accepted, stats } = read(layout, [bytesOf(text)]);

    // Assess
    expect(accepted).toEqual([{ timeMs: Date.UTC(2024, 0, 1), dims: ['', 'p'], metrics: [1, 2] }]);
    expect(stats.valuesNulled).toEqual({ region: 1 });
  });

  it('reads decimal commas with thousands points, a semicolon file quoted the spreadsheet way', () => {
    // Prepare
    const layout: RecordLayout = { ...salesLayout, values: values({ decimalSeparator: ',', thousandsSeparator: '.' }) };
    const text = '2024-01-01T00:00:00Z,n,p,"1.234,5","-0,25"\n2024-01-01T00:00:00Z,n,p,"1.23,5",1\n';

    // Act
    const { accepted, rejected } = read(layout, [bytesOf(text)]);

    // Assess
    expect(accepted.map((a) => a.metrics)).toEqual([[1234.5, -0.25]]);
    expect(rejected.map((r) => r.reason)).toEqual(['field "amount": "1.23,5" is not a number']);
  });

  it('reads local times of a strftime pattern in the dataset time zone', () => {
    // Prepare
    const layout: RecordLayout = { ...salesLayout, timeFormat: '%d/%m/%Y %H:%M', values: values({ timeZone: 'Europe/Paris' }) };
    const text = '01/02/2013 05:00,n,p,1,2\n01/07/2013 05:00,n,p,1,2\n';

    // Act
    const { accepted } = read(layout, [bytesOf(text)]);

    // Assess: CET (+01:00) in February, CEST (+02:00) in July.
    expect(accepted.map((a) => a.timeMs)).toEqual([Date.UTC(2013, 1, 1, 4), Date.UTC(2013, 6, 1, 3)]);
  });
});

describe('NaN, Infinity and null values (NDJSON)', () => {
  const ndjson: RecordLayout = { ...salesLayout, format: 'ndjson', columns: [] };
  // As Python's json.dumps writes them (allow_nan=True, its default).
  const text = [
    '{"ts": "2024-01-01T00:00:00Z", "region": "n", "product": "p", "amount": NaN, "quantity": 1}',
    '{"ts": "2024-01-01T00:00:00Z", "region": "n", "product": "p", "amount": 2.5, "quantity": Infinity}',
    '{"ts": "2024-01-01T00:00:00Z", "region": "n", "product": "p", "amount": -Infinity, "quantity": "NA"}',
    '{"ts": "2024-01-01T00:00:00Z", "region": "NaN", "product": "NA", "amount": 4, "quantity": 5}',
    '{"ts": NaN, "region": "n", "product": "p", "amount": 1, "quantity": 1}',
  ].join('\n');

  it('rejects the non-finite tokens as invalid values under "reject", naming field and token', () => {
    // Prepare
    const layout: RecordLayout = { ...ndjson, values: values({ nullValues: R_NULLS }) };

    // Act
    const { accepted, rejected } = read(layout, [bytesOf(text)]);

    // Assess: the string "NaN" is a dimension value like any other.
    expect(accepted).toEqual([{ timeMs: Date.UTC(2024, 0, 1), dims: ['NaN', ''], metrics: [4, 5] }]);
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([
      [1, 'field "amount": NaN is not a finite number'],
      [2, 'field "quantity": Infinity is not a finite number'],
      [3, 'field "amount": -Infinity is not a finite number'],
      [5, 'field "ts": NaN is not a valid iso timestamp'],
    ]);
  });

  it('counts the non-finite tokens as missing under "null", and still rejects a NaN time', () => {
    // Prepare
    const layout: RecordLayout = { ...ndjson, values: values({ nullValues: R_NULLS, onInvalidValue: 'null' }) };

    // Act
    const { accepted, rejected, stats } = read(layout, [bytesOf(text)]);

    // Assess
    expect(accepted.map((a) => a.metrics)).toEqual([
      [NaN, 1],
      [2.5, NaN],
      [NaN, NaN],
      [4, 5],
    ]);
    expect(rejected.map((r) => r.line)).toEqual([5]);
    expect(stats.valuesNulled).toEqual({ amount: 2, quantity: 1 });
  });

  it('leaves NaN inside strings alone and still rejects what is not JSON', () => {
    // Prepare
    const lines = '{"ts": "2024-01-01T00:00:00Z", "region": "say NaN", "product": "p", "amount": 1, "quantity": 1}\n{"ts": "2024-01-01T00:00:00Z", "amount": NaNa}\n';

    // Act
    const { accepted, rejected } = read(ndjson, [bytesOf(lines)]);

    // Assess
    expect(accepted.map((a) => a.dims)).toEqual([['say NaN', 'p']]);
    expect(rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/^invalid JSON: /)]);
  });
});
