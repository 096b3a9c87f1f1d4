import { BatchflowError } from '../errors.ts';

/**
 * Time buckets of a fixed width, aligned to one origin. Calendar units (month, year) are left
 * out on purpose: their width varies, so a coarser bucket could not be merged from finer ones by
 * arithmetic alone.
 */

/** A bucket width: its canonical label (e.g. "2-hour") and its length in milliseconds. */
export interface Granularity {
  readonly label: string;
  readonly ms: number;
}

/** The units a granularity may be written in, with their length in milliseconds. */
export const GRANULARITY_UNITS = {
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
} as const;

export type GranularityUnit = keyof typeof GRANULARITY_UNITS;

/**
 * Monday 2000-01-03 00:00 UTC: the default origin of TimescaleDB's `time_bucket` and DuckDB's
 * `time_bucket`, so buckets here match what an analyst gets there, and week buckets start on
 * Mondays.
 */
export const BUCKET_ORIGIN_MS = Date.UTC(2000, 0, 3);

/** A granularity that cannot be parsed, with the text that was given. */
export class GranularityError extends BatchflowError {
  override name = 'GranularityError';
}

const PATTERN = /^(\d+)-([a-z]+?)s?$/;

/**
 * Parses "<count>-<unit>" (e.g. "15-minute", "2-hours") into its canonical singular label and
 * width; throws GranularityError for anything else.
 */
export function parseGranularity(text: string): Granularity {
  const match = PATTERN.exec(text);
  const unit = match?.[2];
  if (match === null || unit === undefined || !Object.hasOwn(GRANULARITY_UNITS, unit)) {
    throw new GranularityError(
      `"${text}" is not a granularity: expected "<count>-<unit>" with unit one of ` +
        `${Object.keys(GRANULARITY_UNITS).join(', ')} (e.g. "1-hour", "15-minutes")`,
    );
  }
  const count = Number(match[1]);
  const ms = count * GRANULARITY_UNITS[unit as GranularityUnit];
  if (count < 1 || !Number.isSafeInteger(ms)) {
    throw new GranularityError(`"${text}" is not a granularity: the count must be a positive integer`);
  }
  return { label: `${count}-${unit}`, ms };
}

/**
 * The start of the bucket holding `tMs`: BUCKET_ORIGIN_MS + floor((tMs − origin) / width) · width,
 * also for times before the origin.
 */
export function bucketStart(tMs: number, g: Granularity): number {
  // `%` on doubles is exact (unlike the division), and its sign follows the dividend, so a
  // negative remainder is moved up by one width to floor rather than truncate toward the origin.
  let r = (tMs - BUCKET_ORIGIN_MS) % g.ms;
  if (r < 0) r += g.ms;
  return tMs - r;
}

/** Whether every `coarse` bucket is a whole number of `base` buckets (so it can be merged from them). */
export function isMultipleOf(coarse: Granularity, base: Granularity): boolean {
  return coarse.ms % base.ms === 0;
}
