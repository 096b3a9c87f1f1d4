import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nestingExceeds } from '../../../lib/parse/ndjson.ts';
import { createRecordReader } from '../../../lib/parse/reader.ts';
import type { RecordLayout } from '../../../lib/parse/sink.ts';
import {
  END_TIME_MS,
  MAX_DIMENSION_BYTES,
  MAX_METRIC_MAGNITUDE,
  MIN_TIME_MS,
  parseDecimalText,
  storableText,
  timeRange,
} from '../../../lib/parse/values.ts';
import { BUCKET_ORIGIN_MS } from '../../../lib/rollup/granularity.ts';
import { bytesOf, read, salesLayout } from './readRecords.ts';

/** The limits of a record (README "Limits of a record"): each a reject naming the field, never a throw. */

const csv = salesLayout;
const ndjson: RecordLayout = { ...csv, format: 'ndjson', columns: [] };
const epochSeconds: RecordLayout = { ...csv, timeFormat: 'epoch_s' };

const GOOD_CSV = '2024-01-01T00:00:00Z,n,p,1,2';
const GOOD_JSON = '{"ts":"2024-01-01T00:00:00Z","region":"n","product":"p","amount":1,"quantity":2}';

/** Reads a good line, the line under test, and a good line; returns the one reject. */
function rejectOf(layout: RecordLayout, line: string | Buffer, good = layout.format === 'csv' ? GOOD_CSV : GOOD_JSON) {
  const bytes = Buffer.concat([bytesOf(`${good}\n`), typeof line === 'string' ? bytesOf(line) : line, bytesOf(`\n${good}\n`)]);
  const { accepted, rejected, stats } = read(layout, [bytes]);
  expect(accepted).toHaveLength(2);
  expect(stats).toMatchObject({ records: 3, rejected: 1 });
  expect(rejected).toHaveLength(1);
  expect(rejected[0]).toMatchObject({ line: 2, offset: good.length + 1 });
  return rejected[0];
}

describe('dimension values Postgres cannot hold', () => {
  it.each([
    ['a NUL byte (CSV)', csv, Buffer.from('2024-01-01,n\0x,p,1,2'), /^field "region": "n\\u0000x" contains NUL \(U\+0000\)/],
    ['a NUL byte in a long value (CSV)', csv, Buffer.from(`2024-01-01,n,${'p'.repeat(40)}\0,1,2`), /^field "product": .* contains NUL/],
    ['a NUL byte in a quoted value with "" (CSV)', csv, Buffer.from('2024-01-01,"a""\0",p,1,2'), /^field "region": "a\\"\\u0000" contains NUL/],
    ['\\u0000 (NDJSON)', ndjson, '{"ts":"2024-01-01","region":"n\\u0000"}', /^field "region": "n\\u0000" contains NUL/],
    ['a lone surrogate (NDJSON)', ndjson, '{"ts":"2024-01-01","product":"a\\ud800"}', /^field "product": "a\\ud800" contains a lone UTF-16 surrogate/],
    ['a lone low surrogate (NDJSON)', ndjson, '{"ts":"2024-01-01","product":"\\udc00b"}', /^field "product": .* lone UTF-16 surrogate/],
  ])('rejects %s, naming the field', (_, layout, line, reason) => {
    expect(rejectOf(layout, line).reason).toMatch(reason);
  });

  it('accepts a surrogate pair and a value of exactly the byte limit', () => {
    // Prepare: 1,024 bytes of 2-byte characters; an emoji as its pair.
    const longest = 'é'.repeat(MAX_DIMENSION_BYTES / 2);
    const text = `2024-01-01,${longest},😀,1,2\n{"ts":"2024-01-01","region":"${longest}","product":"\\ud83d\\ude00"}\n`;

    // Act
    const fromCsv = read(csv, [bytesOf(text.split('\n')[0])]);
    const fromJson = read(ndjson, [bytesOf(text.split('\n')[1])]);

    // Assess
    expect(fromCsv.accepted.map((a) => a.dims)).toEqual([[longest, '😀']]);
    expect(fromJson.accepted.map((a) => a.dims)).toEqual([[longest, '😀']]);
  });

  it.each([
    ['CSV', csv, `2024-01-01,${'é'.repeat(MAX_DIMENSION_BYTES / 2)}x,p,1,2`],
    ['NDJSON', ndjson, `{"ts":"2024-01-01","region":"${'é'.repeat(MAX_DIMENSION_BYTES / 2)}x"}`],
  ])('rejects a dimension value one byte over the limit (%s), with its size', (_, layout, line) => {
    expect(rejectOf(layout, line).reason).toBe(`field "region": value of ${MAX_DIMENSION_BYTES + 1} bytes exceeds 1024 bytes (Postgres index row limit)`);
  });

  it.each([
    ['CSV', { ...csv, columns: ['ts', 'region', 'product', 'channel', 'amount'], dimensions: ['region', 'product', 'channel'], metrics: ['amount'] }, `2024-01-01,${'a'.repeat(1000)},${'€'.repeat(300)},${'c'.repeat(149)},1`, '2024-01-01,n,p,c,1'],
    ['NDJSON', { ...ndjson, dimensions: ['region', 'product', 'channel'] }, `{"ts":"2024-01-01","region":"${'a'.repeat(1000)}","product":"${'€'.repeat(300)}","channel":"${'c'.repeat(149)}"}`, GOOD_JSON],
  ])('rejects a record whose dimension values together pass 2,048 bytes (%s), naming the field that passes it', (_, layout, line, good) => {
    expect(rejectOf(layout, line, good).reason).toMatch(/^field "channel": dimension values reach 2049 bytes; .* at most 2048/);
  });
});

describe('times outside years 0001–9999', () => {
  it.each([
    ['ISO year 0000', csv, '0000-06-01T00:00:00Z,n,p,1,2', /^field "ts": "0000-06-01T00:00:00Z" is outside years 0001–9999/],
    ['ISO 9999-12-31 with a -01:00 zone (year 10000 in UTC)', csv, '9999-12-31T23:30:00-01:00,n,p,1,2', /is outside years 0001–9999/],
    ['epoch_s given milliseconds', epochSeconds, '1700000000000,n,p,1,2', /^field "ts": "1700000000000" is outside years 0001–9999/],
    ['epoch_s at year 10000', epochSeconds, `${END_TIME_MS / 1000},n,p,1,2`, /is outside years 0001–9999/],
    ['epoch_s before year 1', epochSeconds, `${MIN_TIME_MS / 1000 - 1},n,p,1,2`, /is outside years 0001–9999/],
    ['an NDJSON epoch number beyond 9999', { ...ndjson, timeFormat: 'epoch_ms' as const }, '{"ts":253402300800000}', /^field "ts": 253402300800000 is outside years 0001–9999/],
  ])('rejects %s, naming the field', (_, layout, line, reason) => {
    const good = layout.format === 'csv' ? (layout.timeFormat === 'iso' ? GOOD_CSV : '1704067200,n,p,1,2') : layout.timeFormat === 'iso' ? GOOD_JSON : '{"ts":1704067200000}';
    expect(rejectOf(layout, line, good).reason).toMatch(reason);
  });

  it('accepts the first and last millisecond of the range, pre-1970 and fractional epochs', () => {
    // Prepare
    const text = ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '1969-07-20T20:17:40Z'].map((t) => `${t},n,p,1,2`).join('\n');
    const epochs = ['-14182940', '1.5', '-0.25', '1700000000.123'].map((t) => `${t},n,p,1,2`).join('\n');

    // Act
    const iso = read(csv, [bytesOf(text)]);
    const seconds = read(epochSeconds, [bytesOf(epochs)]);

    // Assess
    expect(iso.accepted.map((a) => a.timeMs)).toEqual([MIN_TIME_MS, END_TIME_MS - 1, Date.UTC(1969, 6, 20, 20, 17, 40)]);
    expect(seconds.accepted.map((a) => a.timeMs)).toEqual([-14_182_940_000, 1500, -250, 1_700_000_000_123]);
  });

  it('keeps every bucket inside the years: for weeks, times before the first whole week of year 1 are rejected', () => {
    // Prepare: 0001-01-01 is a Monday; 2-week buckets aligned to 2000-01-03 start on 0001-01-01 or a week later.
    const week = 7 * 86_400_000;
    const range = timeRange(2 * week, BUCKET_ORIGIN_MS);

    // Act
    const unbounded = read(csv, [bytesOf('0001-01-01T00:00:00Z,n,p,1,2\n9999-12-31T23:00:00Z,n,p,1,2\n')]);
    const limited = readWithRange(range, '0001-01-01T00:00:00Z,n,p,1,2\n9999-12-31T23:00:00Z,n,p,1,2\n');

    // Assess: the range's ends are bucket edges, within the years, each within one bucket of them.
    const phase = (t: number) => Math.abs((t - BUCKET_ORIGIN_MS) % (2 * week));
    expect([phase(range.minMs), phase(range.endMs)]).toEqual([0, 0]);
    expect(range.minMs).toBeGreaterThanOrEqual(MIN_TIME_MS);
    expect(range.minMs - MIN_TIME_MS).toBeLessThan(2 * week);
    expect(range.endMs).toBeLessThanOrEqual(END_TIME_MS);
    expect(END_TIME_MS - range.endMs).toBeLessThanOrEqual(2 * week);
    expect(unbounded.accepted).toHaveLength(2);
    expect(limited.accepted + limited.rejected.length).toBe(2);
    // 0001-01-01 is 52,151.5 fortnights before the origin: its 2-week bucket starts in year 0.
    expect(limited.rejected.length).toBeGreaterThan(0);
    expect(limited.rejected.map((r) => r.reason)).toEqual(
      [MIN_TIME_MS, Date.UTC(9999, 11, 31, 23)]
        .filter((t) => t < range.minMs || t >= range.endMs)
        .map((t) => expect.stringMatching(new RegExp(`^field "ts": "${new Date(t).toISOString().slice(0, 19)}Z" is in a bucket outside years 0001–9999`))),
    );
    // Hours: year 1 starts a bucket; the last hour of 9999 is out, as its end would be 10000-01-01.
    expect(timeRange(3_600_000, BUCKET_ORIGIN_MS)).toEqual({ minMs: MIN_TIME_MS, endMs: END_TIME_MS - 3_600_000 });
  });
});

/** Reads CSV text with a time range, as processPartition passes it. */
function readWithRange(range: { minMs: number; endMs: number }, text: string) {
  const rejected: { reason: string }[] = [];
  let accepted = 0;
  const reader = createReader(range, { accept: () => accepted++, reject: (r) => rejected.push(r) });
  reader.push(bytesOf(text));
  reader.end();
  return { accepted, rejected };
}

function createReader(range: { minMs: number; endMs: number }, sink: Parameters<typeof createRecordReader>[1]) {
  return createRecordReader(csv, sink, { baseOffset: 0, maxRecordBytes: 1 << 20, timeRange: range });
}

describe('metric values past what a sum or a variance can hold', () => {
  it('bounds magnitudes so that Chan’s merge of 2^63 records stays finite (the derivation in values.ts)', () => {
    // Prepare: two halves of N = 2^63 records, all at -B and all at +B: the largest merge term.
    const B = MAX_METRIC_MAGNITUDE;
    const half = 2 ** 62;

    // Act: as lib/store/rollups.ts computes it, product before division.
    const term = (B - -B) ** 2 * half * half / (half + half);
    const m2 = half * B * B + half * B * B + term;
    const sum = 2 * half * B;

    // Assess: finite, and 10 times the bound would not be.
    expect(Number.isFinite((2 * B) ** 2 * half * half)).toBe(true);
    expect([m2, sum].every(Number.isFinite)).toBe(true);
    expect(Number.isFinite((20 * B) ** 2 * half * half)).toBe(false);
  });

  it.each([
    ['1e309 (beyond a double)', '1e309', /^field "amount": "1e309" is beyond the magnitude bound ±1e135/],
    ['1e155', '1e155', /^field "amount": "1e155" is beyond the magnitude bound/],
    ['-1.0000001e135', '-1.0000001e135', /is beyond the magnitude bound/],
    ['NaN', 'NaN', /^field "amount": "NaN" is not a number$/],
    ['Infinity', 'Infinity', /^field "amount": "Infinity" is not a number$/],
    ['-Infinity', '-Infinity', /^field "amount": "-Infinity" is not a number$/],
    ['0x10', '0x10', /is not a number$/],
  ])('rejects %s as a CSV metric, naming the field', (_, value, reason) => {
    expect(rejectOf(csv, `2024-01-01,n,p,${value},2`).reason).toMatch(reason);
  });

  it.each([
    ['1e309', '1e309', /^field "amount": Infinity is beyond the magnitude bound/],
    ['"1e309" as a string', '"1e309"', /^field "amount": "1e309" is beyond the magnitude bound/],
    ['1e136', '1e136', /^field "amount": 1e\+136 is beyond the magnitude bound/],
    ['"NaN"', '"NaN"', /^field "amount": "NaN" is not a number$/],
    ['"Infinity"', '"Infinity"', /^field "amount": "Infinity" is not a number$/],
  ])('rejects %s as an NDJSON metric, naming the field', (_, value, reason) => {
    expect(rejectOf(ndjson, `{"ts":"2024-01-01","amount":${value}}`).reason).toMatch(reason);
  });

  it('accepts ±1e135 exactly and -0 (as -0 here; Postgres receives it through JSON as 0)', () => {
    // Act
    const { accepted, rejected } = read(csv, [bytesOf('2024-01-01,n,p,1e135,-1e135\n2024-01-01,n,p,-0,-0.0\n')]);

    // Assess
    expect(rejected).toEqual([]);
    expect(accepted.map((a) => a.metrics)).toEqual([[1e135, -1e135], [-0, -0]]);
    expect(JSON.stringify(accepted[1].metrics)).toBe('[0,0]');
    expect(parseDecimalText('1e135')).toBe(MAX_METRIC_MAGNITUDE);
  });
});

describe('NDJSON nesting', () => {
  it('rejects a line nested past 128 levels before parsing it, so showing it cannot overflow the stack', () => {
    // Prepare: 5,000 levels in a dimension, where the reason would show the value.
    const deep = `{"ts":"2024-01-01","region":${'['.repeat(5000)}${']'.repeat(5000)}}`;

    // Act
    const reject = rejectOf(ndjson, deep);

    // Assess
    expect(reject.reason).toBe('record nests arrays or objects deeper than 128 levels');
    expect(reject.raw).toHaveLength(1000);
  });

  it('counts brackets outside strings only, at the limit exactly', () => {
    // Prepare
    const at = (depth: number) => bytesOf(`{"a":"[[[{{{\\"[[",${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`);

    // Act / Assess
    expect(nestingExceeds(at(128), 0, at(128).length, 128)).toBe(false);
    expect(nestingExceeds(at(129), 0, at(129).length, 128)).toBe(true);
    const ok = read(ndjson, [bytesOf(`{"ts":"2024-01-01","x":${'['.repeat(127)}${']'.repeat(127)}}`)]);
    expect(ok.accepted).toHaveLength(1);
  });
});

describe('storableText', () => {
  it('leaves no NUL and no lone surrogate, whatever the code units (encodeURIComponent refuses lone surrogates)', () => {
    const anyCodeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 64 }).map((units) => String.fromCharCode(...units));
    fc.assert(
      fc.property(anyCodeUnits, fc.integer({ min: 1, max: 80 }), (text, max) => {
        const stored = storableText(text, max);
        expect(stored).not.toContain('\u0000');
        expect(() => encodeURIComponent(stored)).not.toThrow();
        expect(stored.length).toBeLessThanOrEqual(max);
      }),
    );
  });

  it('writes NUL as \\0, replaces lone surrogates, keeps pairs, and cuts without splitting a pair', () => {
    expect(storableText('a\0b', 100)).toBe('a\\0b');
    expect(storableText('x\ud800y\udc00😀', 100)).toBe('x\ufffdy\ufffd😀');
    expect(storableText('ab😀', 3)).toBe('ab');
    expect(storableText('Unexpected token \0 in JSON', 1000)).not.toContain('\0');
  });

  it('keeps the raw NUL of an NDJSON line and the JSON error quoting it out of the stored reject', () => {
    // Prepare: a raw NUL outside a string; JSON.parse's message quotes it.
    const reject = rejectOf(ndjson, Buffer.from('{"ts":"2024-01-01",\0}'));

    // Act
    const stored = { reason: storableText(reject.reason, 1000), raw: storableText(reject.raw, 1000) };

    // Assess
    expect(reject.reason).toMatch(/^invalid JSON: /);
    expect(stored.reason).not.toContain('\0');
    expect(stored.raw).toBe('{"ts":"2024-01-01",\\0}');
  });
});
