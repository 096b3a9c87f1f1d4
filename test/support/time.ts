/**
 * Time arithmetic of the tests' expectations, written out here rather than imported from lib
 * (lib/rollup/granularity.ts has its own BUCKET_ORIGIN_MS): an expectation that shared the code's
 * constant would agree with the code even if that constant were wrong. One place for the tests,
 * still independent of the code under test (granularity.test.ts pins lib's origin to this date).
 */

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;

/** Monday 2000-01-03 00:00 UTC: the bucket origin the pipeline documents (week buckets start on Mondays), and so the windows'. */
export const ORIGIN_MS = Date.UTC(2000, 0, 3);

/** The widths of the granularities analytics windows are tested at. */
export const GRANULARITY_MS: Readonly<Record<string, number>> = {
  '1-hour': HOUR,
  '2-hour': 2 * HOUR,
  '4-hour': 4 * HOUR,
  '6-hour': 6 * HOUR,
  '12-hour': 12 * HOUR,
  '1-day': DAY,
  '2-day': 2 * DAY,
  '3-day': 3 * DAY,
  '1-week': WEEK,
  '2-week': 2 * WEEK,
};

/** The last boundary at or before `t` (the start of its bucket), by whole widths from the origin. */
export function boundaryAtOrBefore(t: number, width: number): number {
  return ORIGIN_MS + Math.floor((t - ORIGIN_MS) / width) * width;
}
