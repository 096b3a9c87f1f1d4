import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_RAW_CHARS } from '../../../lib/parse/sink.ts';
import {
  createDimensionDecoder,
  epochToMs,
  parseDecimal,
  parseDecimalText,
  parseTimestamp,
  parseTimestampText,
  rawText,
  showValue,
} from '../../../lib/parse/values.ts';

const bytesOf = (text: string) => Buffer.from(text, 'utf8');
const decimal = (text: string, shift = 0) => parseDecimal(bytesOf(text), 0, bytesOf(text).length, shift);
const timestamp = (text: string, format: 'iso' | 'epoch_s' | 'epoch_ms' = 'iso') =>
  parseTimestamp(bytesOf(text), 0, bytesOf(text).length, format);

// The accepted grammar, written independently of the parser.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const expectedDecimal = (text: string) => (DECIMAL.test(text) && Number.isFinite(Number(text)) ? Number(text) : NaN);

const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
const numberText = fc
  .record({
    sign: fc.constantFrom('', '-', '+'),
    integer: digits(0, 25),
    fraction: fc.option(digits(0, 25)),
    exponent: fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '-', '+'), digits(1, 3))),
  })
  .map(({ sign, integer, fraction, exponent }) => {
    const f = fraction === null ? '' : `.${fraction}`;
    return `${sign}${integer}${f}${exponent === null ? '' : exponent.join('')}`;
  });

/** Epoch ms of a date-time, through Date's own calendar (setUTCFullYear takes years 0-99 as given). */
function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}
const daysIn = (y: number, mo: number) => new Date(utc(y, mo + 1, 1) - 86_400_000).getUTCDate();
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

describe('parseDecimal', () => {
  it('gives exactly what Number gives for generated decimal texts', () => {
    fc.assert(
      fc.property(numberText, (text) => {
        // Act
        const value = decimal(text);

        // Assess
        expect(Object.is(value, expectedDecimal(text))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('gives exactly what Number gives for doubles written by JavaScript', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 0, max: 17 }), (x, places) => {
        // Prepare
        const texts = [String(x), x.toFixed(Math.min(places, 100)), x.toExponential(Math.min(places, 20))];

        for (const text of texts) {
          // Act
          const value = decimal(text);

          // Assess: past the largest double, a text rounds to Infinity, which is no value.
          expect(Object.is(value, Number.isFinite(Number(text)) ? Number(text) : NaN)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts only the decimal grammar, on arbitrary texts of number-like characters', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9+\-.eExXabInfityN ]{0,8}$/), (text) => {
        // Act
        const value = decimal(text);

        // Assess
        expect(Object.is(value, expectedDecimal(text))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it.each(['12x', '1.2.3', 'NaN', 'Infinity', '-Infinity', '0x10', '0b1', '1e', '1e+', '.', '-', '+', '', ' 1', '1 ', '1_000', '1e400', '١٢'])(
    'rejects %j',
    (text) => {
      // Act
      const value = decimal(text);

      // Assess
      expect(value).toBeNaN();
    },
  );

  it('scales by 10^shift in decimal, as Number of the text with the exponent raised', () => {
    fc.assert(
      fc.property(numberText, fc.integer({ min: -5, max: 5 }), (text, shift) => {
        // Prepare
        const [mantissa, exponent = '0'] = text.split(/[eE]/);
        const expected = DECIMAL.test(text) ? Number(`${mantissa}e${Number(exponent) + shift}`) : NaN;

        // Act
        const value = decimal(text, shift);

        // Assess
        expect(Object.is(value, Number.isFinite(expected) ? expected : NaN)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a number inside a larger buffer without looking past its end', () => {
    // Prepare
    const bytes = bytesOf('x,155.26,9');

    // Act
    const value = parseDecimal(bytes, 2, 8);

    // Assess
    expect(value).toBe(Number('155.26'));
  });
});

describe('parseTimestamp', () => {
  const isoParts = fc
    .record({
      y: fc.integer({ min: 0, max: 9999 }),
      mo: fc.integer({ min: 1, max: 12 }),
      d: fc.integer({ min: 1, max: 31 }),
      h: fc.integer({ min: 0, max: 23 }),
      mi: fc.integer({ min: 0, max: 59 }),
      s: fc.integer({ min: 0, max: 59 }),
      fraction: fc.option(digits(1, 9)),
      withSeconds: fc.boolean(),
      withTime: fc.boolean(),
      separator: fc.constantFrom('T', ' ', 't'),
      zone: fc.option(
        fc.record({ sign: fc.constantFrom(1, -1), h: fc.integer({ min: 0, max: 23 }), m: fc.integer({ min: 0, max: 59 }), colon: fc.boolean() }),
      ),
      z: fc.constantFrom('', 'Z', 'z'),
    })
    .map((p) => ({ ...p, d: Math.min(p.d, daysIn(p.y, p.mo)) }));

  it('reads generated ISO dates and date-times as Date computes them', () => {
    fc.assert(
      fc.property(isoParts, (p) => {
        // Prepare
        let text = `${pad(p.y, 4)}-${pad(p.mo)}-${pad(p.d)}`;
        let expected = utc(p.y, p.mo, p.d);
        if (p.withTime) {
          text += `${p.separator}${pad(p.h)}:${pad(p.mi)}`;
          const ms = p.withSeconds && p.fraction !== null ? Number(p.fraction.padEnd(3, '0').slice(0, 3)) : 0;
          if (p.withSeconds) text += `:${pad(p.s)}${p.fraction === null ? '' : `.${p.fraction}`}`;
          expected = utc(p.y, p.mo, p.d, p.h, p.mi, p.withSeconds ? p.s : 0, ms);
          if (p.zone !== null) {
            text += `${p.zone.sign > 0 ? '+' : '-'}${pad(p.zone.h)}${p.zone.colon ? ':' : ''}${pad(p.zone.m)}`;
            expected -= p.zone.sign * (p.zone.h * 60 + p.zone.m) * 60_000;
          } else {
            text += p.z;
          }
        }

        // Act
        const value = timestamp(text);

        // Assess
        expect(value).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with Date.parse on the forms both read', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (date) => {
        // Prepare
        const text = date.toISOString();

        // Act
        const value = timestamp(text);

        // Assess
        expect(value).toBe(Date.parse(text));
      }),
    );
  });

  it.each([
    '2024-13-01',
    '2024-00-10',
    '2024-02-30',
    '2023-02-29',
    '1900-02-29',
    '2024-04-31',
    '2024-01-00',
    '2024-01-16T25:00',
    '2024-01-16T24:00',
    '2024-01-16T10:60',
    '2024-01-16T10:00:60',
    '2024-01-16T10:00:00.',
    '2024-01-16T10:00:00.5x',
    '2024-01-16T10',
    '2024-01-16T10:00:',
    '2024-01-16T',
    '2024-01-16X10:00',
    '2024-1-16',
    '24-01-16',
    '2024/01/16',
    '2024-01-16Z',
    '2024-01-16T10:00Z0',
    '2024-01-16T10:00+1',
    '2024-01-16T10:00+1:00',
    '2024-01-16T10:00+24:00',
    '2024-01-16T10:00+01:60',
    '2024-01-16T10:00+01:00:00',
    '2024-01-16 10:00 ',
    ' 2024-01-16',
    '+2024-01-16',
    '２０２４-01-16',
    'now',
  ])('rejects the ISO timestamp %j', (text) => {
    // Act
    const value = timestamp(text);

    // Assess
    expect(value).toBeNaN();
  });

  it('reads February 29 of leap years', () => {
    // Act
    const values = ['2024-02-29', '2000-02-29', '1600-02-29'].map((t) => timestamp(t));

    // Assess
    expect(values).toEqual([utc(2024, 2, 29), utc(2000, 2, 29), utc(1600, 2, 29)]);
  });

  it('reads epoch seconds, fractional ones exactly in decimal, and epoch milliseconds', () => {
    // Act
    const values = [
      timestamp('1700000000', 'epoch_s'),
      timestamp('1700000000.123', 'epoch_s'),
      timestamp('-1.5', 'epoch_s'),
      timestamp('1.7e9', 'epoch_s'),
      timestamp('1700000000123', 'epoch_ms'),
      timestamp('1700000000123.5', 'epoch_ms'),
    ];

    // Assess
    expect(values).toEqual([1_700_000_000_000, 1_700_000_000_123, -1500, 1_700_000_000_000, 1_700_000_000_123, 1_700_000_000_123.5]);
  });

  it('gives for generated epoch seconds what Number gives for the text scaled by 1000', () => {
    fc.assert(
      fc.property(fc.integer({ min: -2e9, max: 4e9 }), digits(0, 6), (seconds, fraction) => {
        // Prepare
        const text = fraction === '' ? String(seconds) : `${seconds}.${fraction}`;

        // Act
        const value = timestamp(text, 'epoch_s');

        // Assess
        expect(value).toBe(Number(`${text}e3`));
      }),
    );
  });

  it.each([
    ['1e30', 'epoch_s'],
    ['9e15', 'epoch_ms'],
    ['12x', 'epoch_s'],
    ['2024-01-01', 'epoch_ms'],
  ] as const)('rejects %j as %s', (text, format) => {
    // Act
    const value = timestamp(text, format);

    // Assess
    expect(value).toBeNaN();
  });
});

describe('text and number forms', () => {
  it('reads strings as their UTF-8 bytes would be read', () => {
    fc.assert(
      fc.property(fc.oneof(numberText, fc.string({ unit: 'grapheme', maxLength: 6 })), (text) => {
        // Act
        const number = parseDecimalText(text);
        const time = parseTimestampText(text, 'epoch_ms');

        // Assess
        expect(Object.is(number, decimal(text))).toBe(true);
        expect(Object.is(time, timestamp(text, 'epoch_ms'))).toBe(true);
      }),
    );
  });

  it('does not mistake a non-ASCII character for a digit', () => {
    // Act (U+0131 would become "1" if encoded as latin1)
    const value = parseDecimalText('\u0131');

    // Assess
    expect(value).toBeNaN();
  });

  it('reads a long numeric string', () => {
    // Prepare
    const text = `0.${'0'.repeat(300)}1`;

    // Act
    const value = parseDecimalText(text);

    // Assess
    expect(value).toBe(Number(text));
  });

  it('converts epoch numbers to milliseconds as their shortest decimal text would', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e10, max: 1e10, noNaN: true }), (seconds) => {
        // Act
        const ms = epochToMs(seconds, 'epoch_s');

        // Assess (+ 0: the sign of a zero instant does not matter)
        const [mantissa, exponent = '0'] = String(seconds).split('e');
        expect(ms + 0).toBe(Number(`${mantissa}e${Number(exponent) + 3}`) + 0);
      }),
    );
  });

  it('rejects epoch numbers outside the range of Date', () => {
    // Act
    const values = [epochToMs(1e13, 'epoch_s'), epochToMs(-9e15, 'epoch_ms'), epochToMs(Infinity, 'epoch_ms')];

    // Assess
    expect(values.every(Number.isNaN)).toBe(true);
  });
});

describe('createDimensionDecoder', () => {
  it('decodes what Buffer#toString decodes, for repeated, colliding, long and invalid UTF-8 values (undefined for NUL)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 3 }), (values, rounds) => {
        // Prepare
        const decode = createDimensionDecoder();
        const bytes = Buffer.concat(values.map((v) => Buffer.from(v)));

        for (let round = 0; round < rounds; round++) {
          let at = 0;
          for (const value of values) {
            // Act
            const text = decode(bytes, at, at + value.length);

            // Assess
            expect(text).toBe(value.includes(0) ? undefined : Buffer.from(value).toString('utf8'));
            at += value.length;
          }
        }
      }),
    );
  });

  it('stays right when far more distinct values than slots pass through it', () => {
    // Prepare
    const decode = createDimensionDecoder();
    const values = Array.from({ length: 20_000 }, (_, i) => `v${i.toString(36)}`);
    const bytes = values.map((v) => Buffer.from(v));

    // Act
    const decoded = [...bytes, ...bytes.reverse()].map((b) => decode(b, 0, b.length));

    // Assess
    expect(decoded).toEqual([...values, ...values.reverse()]);
  });
});

describe('rawText and showValue', () => {
  it('cuts raw text to MAX_RAW_CHARS without leaving half a surrogate pair', () => {
    // Prepare
    const text = `${'a'.repeat(MAX_RAW_CHARS - 1)}😀tail`;
    const bytes = bytesOf(text);

    // Act
    const raw = rawText(bytes, 0, bytes.length);

    // Assess
    expect(raw).toBe('a'.repeat(MAX_RAW_CHARS - 1));
  });

  it('keeps raw text up to MAX_RAW_CHARS whole, multi-byte characters included', () => {
    // Prepare
    const text = '€'.repeat(MAX_RAW_CHARS + 5);
    const bytes = bytesOf(text);

    // Act
    const raw = rawText(bytes, 0, bytes.length);

    // Assess
    expect(raw).toBe('€'.repeat(MAX_RAW_CHARS));
  });

  it('quotes a value as JSON and cuts a long one', () => {
    // Act
    const shown = [showValue('say "hi"'), showValue('x'.repeat(500))];

    // Assess
    expect(shown[0]).toBe(JSON.stringify('say "hi"'));
    expect(shown[1]).toBe(JSON.stringify(`${'x'.repeat(200)}…`));
  });
});
