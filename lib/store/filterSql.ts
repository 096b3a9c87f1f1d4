import type postgres from 'postgres';
import { FilterError, type FilterExpr } from '../analytics/filter.ts';

// The SQL side of the filter language (lib/analytics/filter.ts parses it): the one place a filter
// becomes SQL, next to the other queries.

/**
 * The filter as a postgres.js fragment over the `dims` text[] column: values go as parameters and
 * the subscript is `dimIndex(dimension) + 1` (`dimIndex` is 0-based in the rollup's dims, as
 * `rollup.indexOf`; -1 means unknown), so no user text ever becomes SQL. Throws FilterError for an unknown dimension.
 */
export function filterToSql(
  expr: FilterExpr,
  sql: postgres.Sql,
  dimIndex: (dimension: string) => number,
): postgres.PendingQuery<postgres.Row[]> {
  const dim = (dimension: string) => {
    const i = dimIndex(dimension);
    if (!Number.isSafeInteger(i) || i < 0) throw new FilterError(`unknown dimension ${JSON.stringify(dimension)}`);
    return sql`dims[${i + 1}::int]`;
  };
  switch (expr.kind) {
    // `is [not] distinct from` and `coalesce` keep each comparison two-valued, so `not` over a
    // NULL (or out-of-range) element agrees with evaluateFilter instead of yielding NULL.
    case 'compare':
      return expr.op === '='
        ? sql`(${dim(expr.dimension)} is not distinct from ${expr.value}::text)`
        : sql`(${dim(expr.dimension)} is distinct from ${expr.value}::text)`;
    case 'in': {
      const member = sql`coalesce(${dim(expr.dimension)} = any(${expr.values as string[]}::text[]), false)`;
      return expr.negated ? sql`(not ${member})` : sql`(${member})`;
    }
    case 'not':
      return sql`(not ${filterToSql(expr.operand, sql, dimIndex)})`;
    case 'and':
      return sql`(${filterToSql(expr.left, sql, dimIndex)} and ${filterToSql(expr.right, sql, dimIndex)})`;
    case 'or':
      return sql`(${filterToSql(expr.left, sql, dimIndex)} or ${filterToSql(expr.right, sql, dimIndex)})`;
  }
}
