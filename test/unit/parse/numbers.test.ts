import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createNumberParser, parseDecimal, type NumberNotation } from '../../../lib/parse/numbers.ts';
import { bytesOf } from './readRecords.ts';

const NOTATIONS: NumberNotation[] = [
  { decimalSeparator: ',', thousandsSeparator: null },
  { decimalSeparator: ',', thousandsSeparator: '.' },
  { decimalSeparator: ',', thousandsSeparator: ' ' },
  { decimalSeparator: '.', thousandsSeparator: ',' },
  { decimalSeparator: '.', thousandsSeparator: "'" },
  { decimalSeparator: ',', thousandsSeparator: "'" },
];

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The grammar the README states, as a regular expression: an optional sign; integer digits plain
 * or grouped in threes after a first group of 1 to 3; the decimal separator and digits; an exponent.
 */
function grammar(n: NumberNotation): RegExp {
  const d = escape(n.decimalSeparator);
  const integer = n.thousandsSeparator === null ? '\\d+' : `(?:\\d+|\\d{1,3}(?:${escape(n.thousandsSeparator)}\\d{3})+)`;
  return new RegExp(`^[+-]?(?:${integer}(?:${d}\\d*)?|${d}\\d+)(?:[eE][+-]?\\d+)?$`);
}

/** What the text means, computed with Number on its `.` form: NaN unless the grammar matches and the value is finite. */
function expected(n: NumberNotation, text: string): number {
  if (!grammar(n).test(text)) return NaN;
  const plain = (n.thousandsSeparator === null ? text : text.split(n.thousandsSeparator).join('')).replace(n.decimalSeparator, '.');
  const value = Number(plain);
  return Number.isFinite(value) ? value : NaN;
}

const parseWith = (n: NumberNotation, text: string) => {
  const bytes = bytesOf(text);
  return createNumberParser(n)(bytes, 0, bytes.length);
};

describe('createNumberParser', () => {
  it('is parseDecimal itself for the default notation (the hot path is unchanged)', () => {
    // Act
    const parser = createNumberParser({ decimalSeparator: '.', thousandsSeparator: null });

    // Assess
    expect(parser).toBe(parseDecimal);
  });

  it.each(NOTATIONS)('reads grouped numbers written from generated values, %j', (notation) => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.option(fc.stringMatching(/^\d{1,6}$/)), fc.boolean(), fc.boolean(), (integer, fraction, negative, grouped) => {
        // Prepare: the digits grouped by the test, the value computed from the plain form.
        const digits = integer.toString();
        const sep = notation.thousandsSeparator;
        const integerText = grouped && sep !== null ? digits.replace(/\B(?=(\d{3})+(?!\d))/g, sep) : digits;
        const text = `${negative ? '-' : ''}${integerText}${fraction === null ? '' : `${notation.decimalSeparator}${fraction}`}`;
        const value = Number(`${negative ? '-' : ''}${digits}${fraction === null ? '' : `.${fraction}`}`);

        // Act
        const parsed = parseWith(notation, text);

        // Assess
        expect(parsed).toBe(value);
      }),
      { numRuns: 1000 },
    );
  });

  it.each(NOTATIONS)('takes a text as a number exactly when all of it matches the grammar, %j', (notation) => {
    const alphabet = fc.constantFrom('0', '1', '5', '9', '.', ',', ' ', "'", '-', '+', 'e', 'x');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 14 }).map((cs) => cs.join('')), (text) => {
        // Act
        const parsed = parseWith(notation, text);

        // Assess
        expect(Object.is(parsed, expected(notation, text)) || parsed === expected(notation, text)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['1.234,5', 1234.5],
    ['1.234.567', 1234567],
    ['-0,25', -0.25],
    ['1234,5', 1234.5],
    [',5', 0.5],
    ['1.234,5e3', 1234500],
  ])('reads %j with decimal "," and thousands "."', (text, value) => {
    // Act
    const parsed = parseWith({ decimalSeparator: ',', thousandsSeparator: '.' }, text);

    // Assess
    expect(parsed).toBe(value);
  });

  it.each(['1.23,5', '1.2345', '12.34', '1,2,3', '1.234.', '.234', '1..234', '1.234,5,6', '1,5.0', '1.5', ' 1', 'NaN'])(
    'rejects %j with decimal "," and thousands "."',
    (text) => {
      // Act
      const parsed = parseWith({ decimalSeparator: ',', thousandsSeparator: '.' }, text);

      // Assess
      expect(parsed).toBeNaN();
    },
  );

  it('takes the no-break spaces spreadsheets write (U+00A0, U+202F) for a space separator', () => {
    // Act
    const values = ['1\u00a0234,5', '1\u202f234\u202f567', '1 234,5'].map((t) => parseWith({ decimalSeparator: ',', thousandsSeparator: ' ' }, t));

    // Assess
    expect(values).toEqual([1234.5, 1234567, 1234.5]);
  });
});
