import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  evaluateFilter,
  FilterError,
  filterDimensions,
  formatFilter,
  parseFilter,
  validateFilter,
  type FilterExpr,
} from '../../../lib/analytics/filter.ts';
import { BatchflowError } from '../../../lib/errors.ts';
import { filterExprs, TRICKY_VALUES, values } from './filterArbitraries.ts';

const eq = (dimension: string, value: string): FilterExpr => ({ kind: 'compare', dimension, op: '=', value });

/** A double-quoted literal written the way the grammar documents it, independently of formatFilter. */
function doubleQuoted(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

describe('parseFilter', () => {
  it.each<[string, FilterExpr]>([
    ['status = "active"', eq('status', 'active')],
    ["status != 'active'", { kind: 'compare', dimension: 'status', op: '!=', value: 'active' }],
    ['code = 42', eq('code', '42')],
    ['code = -3.50', eq('code', '-3.5')],
    ['code = 007', eq('code', '7')],
    ['code = -0.0', eq('code', '0')],
    ['region in ("eu", \'us\', 3)', { kind: 'in', dimension: 'region', negated: false, values: ['eu', 'us', '3'] }],
    ['region not in ("eu")', { kind: 'in', dimension: 'region', negated: true, values: ['eu'] }],
    ['region NOT IN ("eu")', { kind: 'in', dimension: 'region', negated: true, values: ['eu'] }],
    ['`order` = "x"', eq('order', 'x')],
    ['`a b\\`c` = "x"', eq('a b`c', 'x')],
    ['_x9 = "\\"\\\\\\n\\t\\u00e9\\\'"', eq('_x9', '"\\\n\té\'')],
  ])('reads %s', (text, expected) => {
    // Prepare
    const input = text;

    // Act
    const parse = () => parseFilter(input);

    // Assess
    expect(parse()).toEqual(expected);
  });

  it('binds not tighter than and, and and tighter than or', () => {
    // Prepare
    const text = 'a = 1 or not b = 2 and c = 3';

    // Act
    const expr = parseFilter(text);

    // Assess
    expect(expr).toEqual({
      kind: 'or',
      left: eq('a', '1'),
      right: { kind: 'and', left: { kind: 'not', operand: eq('b', '2') }, right: eq('c', '3') },
    });
  });

  it('groups with parentheses and associates and/or to the left', () => {
    // Prepare
    const text = '(a = 1 or b = 2) and c = 3 and d = 4';

    // Act
    const expr = parseFilter(text);

    // Assess
    expect(expr).toEqual({
      kind: 'and',
      left: { kind: 'and', left: { kind: 'or', left: eq('a', '1'), right: eq('b', '2') }, right: eq('c', '3') },
      right: eq('d', '4'),
    });
  });

  it('evaluates mixed and/or/not as boolean algebra with the documented precedence', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (a, b, c, d) => {
        // Prepare
        const dims = { a: a ? 'y' : 'n', b: b ? 'y' : 'n', c: c ? 'y' : 'n', d: d ? 'y' : 'n' };
        const expr = parseFilter('a = "y" or not b = "y" and c = "y" or not (d = "y" or a = "y")');

        // Act
        const result = evaluateFilter(expr, dims);

        // Assess
        expect(result).toBe(a || (!b && c) || !(d || a));
      }),
    );
  });

  it('reads back every filter it formats', () => {
    fc.assert(
      fc.property(filterExprs(['status', 'region', 'and', 'a b`\\', 'x1']), (expr) => {
        // Prepare
        const text = formatFilter(expr);

        // Act
        const parsed = parseFilter(text);

        // Assess
        expect(parsed).toEqual(expr);
      }),
    );
  });

  it('keeps any string literal as its exact value, quotes, comments and semicolons included', () => {
    fc.assert(
      fc.property(values, fc.constantFrom('"', "'"), (value, mark) => {
        // Prepare
        const escaped = value.replaceAll('\\', '\\\\').replaceAll(mark, `\\${mark}`);
        const text = `v = ${mark}${escaped}${mark}`;

        // Act
        const expr = parseFilter(text);

        // Assess
        expect(expr).toEqual(eq('v', value));
      }),
    );
  });

  it.each([
    ['status = "active"; drop table x', 'filter: unexpected ";" at 18, expected and, or or end', 18],
    ['status = "active" -- comment', 'filter: unexpected "-" at 19, expected and, or or end', 19],
    ['status = "active" /* c */', 'filter: unexpected "/" at 19, expected and, or or end', 19],
    ["status = 'x' or 1 = 1", 'filter: unexpected number 1 at 17, expected a dimension, not or (', 17],
    ['status = ', 'filter: unexpected end at 10, expected a string or a number', 10],
    ['status == "a"', 'filter: unexpected "=" at 9, expected a string or a number', 9],
    ['status = active', 'filter: unexpected "active" at 10, expected a string or a number', 10],
    ['(a = 1', 'filter: unexpected end at 7, expected and, or or )', 7],
    ['a in ()', 'filter: unexpected ")" at 7, expected a string or a number', 7],
    ['a in ("x" "y")', 'filter: unexpected string "y" at 11, expected , or )', 11],
    ['a in "x"', 'filter: unexpected string "x" at 6, expected (', 6],
    ['a not = 1', 'filter: unexpected "=" at 7, expected in', 7],
    ['a like "x%"', 'filter: unexpected "like" at 3, expected =, !=, in or not in', 3],
    ['and = 1', 'filter: unexpected "and" at 1, expected a dimension, not or (', 1],
    ['a = 1e5', 'filter: unexpected "e5" at 6, expected and, or or end', 6],
    ['', 'filter: unexpected end at 1, expected a dimension, not or (', 1],
    // SQL's doubled quote is not an escape here: the second literal is a syntax error.
    ["s = 'it''s'", 'filter: unexpected string "s" at 9, expected and, or or end', 9],
    ['a = "x', 'filter: unterminated string starting at 5, expected "', 5],
    ['`a = 1', 'filter: unterminated dimension starting at 1, expected `', 1],
    ['a = "\\q"', 'filter: unknown escape "\\q" at 6', 6],
    ['a = 1 ☃', 'filter: unexpected "☃" at 7, expected and, or or end', 7],
  ])('rejects %j: %s', (text, message, position) => {
    // Prepare
    const input = text;

    // Act
    let error: unknown;
    try {
      parseFilter(input);
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(FilterError);
    expect(error).toBeInstanceOf(BatchflowError);
    expect((error as FilterError).message.startsWith(message)).toBe(true);
    expect((error as FilterError).position).toBe(position);
  });

  it('refuses a string holding NUL or a lone surrogate, escaped or raw, naming where it starts', () => {
    // Act
    const errors = ['region = "a\\u0000b"', "region = 'a\u0000b'", 'region in ("x", "\\ud800")', '`a\\u0000` = "x"'].map((text) => {
      try {
        parseFilter(text);
        return undefined;
      } catch (err) {
        return err;
      }
    });

    // Assess: Postgres cannot take NUL in a text parameter, and would see a lone surrogate as U+FFFD.
    expect(errors.map((e) => (e as Error).message)).toEqual([
      'filter: string starting at 10 holds NUL (U+0000), which no dimension value can',
      'filter: string starting at 10 holds NUL (U+0000), which no dimension value can',
      'filter: string starting at 17 holds a lone UTF-16 surrogate, which is not Unicode text',
      'filter: dimension starting at 1 holds NUL (U+0000), which no dimension value can',
    ]);
    expect(errors.every((e) => e instanceof FilterError)).toBe(true);
  });

  it('rejects nesting deeper than its limit with a FilterError rather than overflowing the stack', () => {
    // Prepare
    const text = `${'('.repeat(10_000)}a = 1${')'.repeat(10_000)}`;
    const notChain = `${'not '.repeat(10_000)}a = 1`;

    // Act
    const parseParens = () => parseFilter(text);
    const parseNots = () => parseFilter(notChain);

    // Assess
    expect(parseParens).toThrow(FilterError);
    expect(parseParens).toThrow('nesting deeper than 64');
    expect(parseNots).toThrow(FilterError);
  });

  it('reads 256 comparisons and rejects the 257th at its position', () => {
    // Prepare
    const terms = (n: number) => Array.from({ length: n }, (_, i) => `d${i} = ${i}`).join(' or ');
    const tooMany = terms(257);

    // Act
    const parsed = parseFilter(terms(256));
    const parseTooMany = () => parseFilter(tooMany);

    // Assess
    expect(filterDimensions(parsed)).toHaveLength(256);
    expect(parseTooMany).toThrow(`filter: more than 256 comparisons at ${tooMany.indexOf('d256') + 1}`);
  });
});

describe('filterDimensions and validateFilter', () => {
  it('lists each dimension once, in order of first appearance', () => {
    // Prepare
    const expr = parseFilter('region = "eu" and (status in ("a") or not region != "us") and `tier x` = 1');

    // Act
    const dims = filterDimensions(expr);

    // Assess
    expect(dims).toEqual(['region', 'status', 'tier x']);
  });

  it('names the unknown dimension and the known ones', () => {
    // Prepare
    const expr = parseFilter('status = "a" and stauts = "b"');

    // Act
    const validate = () => validateFilter(expr, ['status', 'region']);

    // Assess
    expect(validate).toThrow(FilterError);
    expect(validate).toThrow('filter: unknown dimension "stauts", expected one of status, region');
    expect(() => validateFilter(expr, ['status', 'stauts'])).not.toThrow();
  });
});

describe('evaluateFilter', () => {
  it('compares number literals with their canonical decimal text', () => {
    // Prepare
    const expr = parseFilter('n = 42.0 or n in (007, -0)');

    // Act
    const matches = ['42', '42.0', '7', '007', '0', '-0'].filter((n) => evaluateFilter(expr, { n }));

    // Assess
    expect(matches).toEqual(['42', '7', '0']);
  });

  it('treats a missing value as equal to nothing', () => {
    // Prepare
    const filters = ['a = ""', 'a != ""', 'a in ("")', 'a not in ("")', 'not a = ""'];

    // Act
    const results = filters.map((f) => evaluateFilter(parseFilter(f), {}));

    // Assess
    expect(results).toEqual([false, true, false, true, true]);
  });

  it('matches a tricky value only by itself', () => {
    // Prepare
    const pool = [...TRICKY_VALUES];

    // Act
    const matched = pool.map((v) => pool.filter((w) => evaluateFilter(parseFilter(`v = ${doubleQuoted(v)}`), { v: w })));

    // Assess
    expect(matched).toEqual(pool.map((v) => [v]));
  });
});
