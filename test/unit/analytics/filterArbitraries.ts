import fc from 'fast-check';
import type { FilterExpr } from '../../../lib/analytics/filter.ts';

/**
 * Filters over a few dimensions, for the parser's and the SQL translation's properties. Values and
 * dimension names include what would break naive quoting: quotes, backslashes, SQL comments,
 * semicolons, keywords, non-ASCII.
 */

/** Values that would break naive quoting, or pass as SQL if spliced into a statement. */
export const TRICKY_VALUES = [
  '',
  'a',
  'B',
  '42',
  '7.5',
  "'",
  '"',
  '`',
  '\\',
  "\\'",
  "x'; drop table cells; --",
  '" or 1=1 --',
  '/* c */',
  'a\nb',
  '\t',
  '%',
  '_',
  'é',
  '😀',
  'and',
  '{a,b}',
  'NULL',
] as const;

/** One of the tricky values or any short string. */
export const values = fc.oneof(fc.constantFrom(...TRICKY_VALUES), fc.string({ maxLength: 6 }));

/** An arbitrary filter over `dimensions` with values from `value`. */
export function filterExprs(dimensions: readonly string[], value: fc.Arbitrary<string> = values): fc.Arbitrary<FilterExpr> {
  const dimension = fc.constantFrom(...dimensions);
  const { expr } = fc.letrec<{ expr: FilterExpr }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ kind: fc.constant('compare' as const), dimension, op: fc.constantFrom('=' as const, '!=' as const), value }),
      fc.record({ kind: fc.constant('in' as const), dimension, negated: fc.boolean(), values: fc.array(value, { minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('not' as const), operand: tie('expr') }),
      fc.record({ kind: fc.constantFrom('and' as const, 'or' as const), left: tie('expr'), right: tie('expr') }),
    ),
  }));
  return expr;
}
