/**
 * Decimal numbers parsed straight from bytes, on the processor's hot path: a failure is NaN, never
 * an exception or a string. parseDecimal reads the default notation (`1234.5`); a dataset with
 * decimalSeparator or thousandsSeparator set reads through createNumberParser.
 */

// Byte values are written as literals in the functions below: Node 20 loads a module-scope const
// from its context, with a hole check, on every use, which cost a third of the CSV scanner's time.

// 10^0..10^22 are exact doubles, so m / 10^k and m * 10^k with an exact m are correctly rounded
// (one IEEE operation on exact operands): the classic Clinger fast path.
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * The decimal number in bytes [start, end) times 10^shift, exactly as `Number(text + 'e' + shift)`
 * would give it; NaN unless the text is `[+-]digits[.digits][(e|E)[+-]digits]` (or `.digits`) with
 * a finite value. `Number` alone would also take `0x10`, `Infinity` and surrounding spaces.
 *
 * @example
 * parseDecimal(Buffer.from('155.26'), 0, 6); // → 155.26
 * parseDecimal(Buffer.from('1.5'), 0, 3, 3); // → 1500 (seconds → milliseconds, exactly)
 */
export function parseDecimal(bytes: Uint8Array, start: number, end: number, shift = 0): number {
  let i = start;
  let negative = false;
  if (i < end) {
    const c = bytes[i];
    if (c === 45 /* - */ || c === 43 /* + */) {
      negative = c === 45 /* - */;
      i++;
    }
  }
  let mantissa = 0;
  let significant = 0;
  let digits = 0;
  let fractionDigits = 0;
  for (; i < end; i++) {
    const d = bytes[i] - 48 /* 0 */;
    if (d < 0 || d > 9) break;
    digits++;
    if (significant > 0 || d !== 0) {
      significant++;
      mantissa = mantissa * 10 + d;
    }
  }
  if (i < end && bytes[i] === 46 /* . */) {
    for (i++; i < end; i++) {
      const d = bytes[i] - 48 /* 0 */;
      if (d < 0 || d > 9) break;
      digits++;
      fractionDigits++;
      if (significant > 0 || d !== 0) {
        significant++;
        mantissa = mantissa * 10 + d;
      }
    }
  }
  if (digits === 0) return NaN;
  const mantissaEnd = i;
  let exponent = 0;
  if (i < end && (bytes[i] === 101 /* e */ || bytes[i] === 69 /* E */)) {
    i++;
    let exponentNegative = false;
    if (i < end && (bytes[i] === 45 /* - */ || bytes[i] === 43 /* + */)) {
      exponentNegative = bytes[i] === 45 /* - */;
      i++;
    }
    const exponentStart = i;
    for (; i < end; i++) {
      const d = bytes[i] - 48 /* 0 */;
      if (d < 0 || d > 9) break;
      // Past 1e9 the value is 0 or Infinity anyway; stopping there keeps the integer exact.
      if (exponent < 1e9) exponent = exponent * 10 + d;
    }
    if (i === exponentStart) return NaN;
    if (exponentNegative) exponent = -exponent;
  }
  if (i !== end) return NaN;

  const scale = exponent + shift - fractionDigits;
  let value: number;
  if (significant <= 15 && scale >= -22 && scale <= 22) {
    const pow10 = POW10;
    value = scale < 0 ? mantissa / pow10[-scale] : mantissa * pow10[scale];
    if (negative) value = -value;
  } else {
    // More digits than a double holds exactly: let the engine's correctly rounded conversion do it.
    value = Number(`${latin1(bytes, start, mantissaEnd)}e${exponent + shift}`);
  }
  return Number.isFinite(value) ? value : NaN;
}

/** How a dataset writes numbers (README "datasets": decimalSeparator, thousandsSeparator). */
export interface NumberNotation {
  readonly decimalSeparator: '.' | ',';
  /** null: none; `' '` also accepts U+00A0 and U+202F, the no-break spaces spreadsheets write. */
  readonly thousandsSeparator: ',' | '.' | ' ' | "'" | null;
}

/** Reads a number in bytes [start, end), NaN when it is not one. */
export type NumberParser = (bytes: Uint8Array, start: number, end: number) => number;

/**
 * The number parser for a notation: parseDecimal itself for the default (`.`, no thousands
 * separator). Otherwise a value is a number only if all of it is: an optional sign, the integer
 * digits either without separators or grouped in threes (`1.234.567`, the first group 1 to 3
 * digits), then optionally the decimal separator and digits, then an optional exponent. The
 * value is then read as parseDecimal reads its `.` form, so rounding is the same.
 *
 * @example
 * createNumberParser({ decimalSeparator: ',', thousandsSeparator: '.' })(Buffer.from('1.234,5'), 0, 7); // → 1234.5
 */
export function createNumberParser(notation: NumberNotation): NumberParser {
  const decimal = notation.decimalSeparator === ',' ? 44 : 46;
  const thousands = notation.thousandsSeparator;
  if (decimal === 46 && thousands === null) return parseDecimal;
  const separator = thousands === null ? -1 : thousands.charCodeAt(0);
  const space = thousands === ' ';
  let scratch = new Uint8Array(64);
  return (bytes, start, end) => {
    if (scratch.length < end - start) scratch = new Uint8Array(2 * (end - start));
    const out = scratch;
    let n = 0;
    let i = start;
    if (i < end && (bytes[i] === 45 /* - */ || bytes[i] === 43 /* + */)) out[n++] = bytes[i++];
    // Integer part: digits, with separators only between groups of three after the first group.
    let group = 0;
    let groups = 0;
    for (; i < end; i++) {
      const c = bytes[i];
      if (c >= 48 && c <= 57) {
        out[n++] = c;
        group++;
        continue;
      }
      const width = separatorWidth(bytes, i, end, separator, space);
      if (width === 0) break;
      if (group === 0 || group > 3 || (groups > 0 && group !== 3)) return NaN;
      groups++;
      group = 0;
      i += width - 1;
    }
    if (groups > 0 && group !== 3) return NaN;
    if (i < end && bytes[i] === decimal) {
      out[n++] = 46;
      i++;
    } else if (i < end && bytes[i] === 46 /* . */ && decimal !== 46) {
      // `1.5` with a decimal comma: not a number (it would be read as 15 or 1.5 by a guess).
      return NaN;
    }
    // The rest (fraction digits, exponent) as parseDecimal's grammar, which rejects anything else.
    for (; i < end; i++) {
      const c = bytes[i];
      if (c === 46 || c === 44) return NaN;
      out[n++] = c;
    }
    return parseDecimal(out, 0, n);
  };
}

/** The thousands separator's bytes at i (1, or 2–3 for a UTF-8 no-break space), 0 when there is none. */
function separatorWidth(bytes: Uint8Array, i: number, end: number, separator: number, space: boolean): number {
  const c = bytes[i];
  if (c === separator) return 1;
  if (!space) return 0;
  if (c === 0xc2 && i + 1 < end && bytes[i + 1] === 0xa0) return 2;
  if (c === 0xe2 && i + 2 < end && bytes[i + 1] === 0x80 && bytes[i + 2] === 0xaf) return 3;
  return 0;
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}
