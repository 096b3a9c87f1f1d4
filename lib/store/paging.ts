/**
 * Keyset pages: a list query fetches `limit + 1` rows after the last key of the previous page
 * (never OFFSET, so rows inserted meanwhile neither repeat nor hide rows), and the extra row only
 * says whether there is a next page.
 */

/** At most `limit` rows and the key to continue after, or null on the last page. */
export interface KeysetPage<T, K> {
  readonly items: T[];
  readonly next: K | null;
}

/** Cuts `limit + 1` fetched rows into a page keyed by `keyOf` of its last row. */
export function pageOf<T, K>(rows: readonly T[], limit: number, keyOf: (row: T) => K): KeysetPage<T, K> {
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? keyOf(items[items.length - 1]) : null };
}
