import { BatchflowError } from '../errors.ts';
import { bucketStart, parseGranularity, type Granularity } from '../rollup/granularity.ts';

/**
 * The time windows a job computes: whole buckets of its granularity, aligned like the rollups'
 * (bucketStart, origin Monday 2000-01-03 UTC), so a window is an exact merge of rollup buckets and
 * does not move with a schedule's time zone or DST.
 */

/** A window [start, end) of one granularity. */
export interface Window {
  readonly start: Date;
  readonly end: Date;
}

/** A delay, range or bound that windows cannot be computed for. */
export class WindowError extends BatchflowError {
  override name = 'WindowError';
}

const HOUR_MS = 3_600_000;

/**
 * The latest whole window that ended at or before `fireTime − delayHours`: a run waits `delayHours`
 * for late files before it closes a window.
 *
 * @example
 * windowFor(new Date('2024-03-10T12:00Z'), '1-day', 2) // [2024-03-09, 2024-03-10)
 */
export function windowFor(fireTime: Date, granularity: Granularity | string, delayHours: number): Window {
  const g = toGranularity(granularity);
  const end = bucketStart(instant(fireTime, 'fireTime') - delayMs(delayHours), g);
  return { start: new Date(end - g.ms), end: new Date(end) };
}

/**
 * Every window that became due in (fromExclusive, toInclusive] — the union of windowFor over those
 * instants — oldest first, at most `maxCount`. Given consecutive fire times it covers each window
 * once, also where a time-zone schedule's UTC fire hour moves with DST and windowFor would repeat
 * or skip one. Catch up in pages by passing `last.end + delay` back as `fromExclusive`.
 */
export function windowsBetween(
  fromExclusive: Date,
  toInclusive: Date,
  granularity: Granularity | string,
  delayHours: number,
  maxCount = 10_000,
): Window[] {
  const g = toGranularity(granularity);
  checkCount(maxCount);
  const delay = delayMs(delayHours);
  const lastEnd = bucketStart(instant(toInclusive, 'toInclusive') - delay, g);
  const windows: Window[] = [];
  for (let end = bucketStart(instant(fromExclusive, 'fromExclusive') - delay, g) + g.ms; end <= lastEnd && windows.length < maxCount; end += g.ms) {
    windows.push({ start: new Date(end - g.ms), end: new Date(end) });
  }
  return windows;
}

/**
 * The windows holding any instant of [minTime, maxTime] (a late upload's data range), oldest first:
 * the only ones to recompute. Throws WindowError past `maxCount` rather than drop any, since a
 * range that wide is more likely a bad timestamp than real data.
 */
export function windowsTouchedBy(minTime: Date, maxTime: Date, granularity: Granularity | string, maxCount = 100_000): Window[] {
  const g = toGranularity(granularity);
  checkCount(maxCount);
  if (instant(minTime, 'minTime') > instant(maxTime, 'maxTime')) {
    throw new WindowError(`minTime ${minTime.toISOString()} is after maxTime ${maxTime.toISOString()}`);
  }
  const first = bucketStart(minTime.getTime(), g);
  const last = bucketStart(maxTime.getTime(), g);
  const count = (last - first) / g.ms + 1;
  if (count > maxCount) {
    throw new WindowError(`${minTime.toISOString()}..${maxTime.toISOString()} touches ${count} ${g.label} windows, more than ${maxCount}`);
  }
  return Array.from({ length: count }, (_, i) => ({ start: new Date(first + i * g.ms), end: new Date(first + (i + 1) * g.ms) }));
}

function toGranularity(granularity: Granularity | string): Granularity {
  return typeof granularity === 'string' ? parseGranularity(granularity) : granularity;
}

function instant(t: Date, name: string): number {
  const ms = t.getTime();
  if (Number.isNaN(ms)) throw new WindowError(`${name} is not a valid date`);
  return ms;
}

function delayMs(delayHours: number): number {
  if (!Number.isFinite(delayHours) || delayHours < 0) throw new WindowError(`delayHours must be a non-negative number, got ${delayHours}`);
  return Math.round(delayHours * HOUR_MS);
}

function checkCount(maxCount: number): void {
  if (!Number.isSafeInteger(maxCount) || maxCount < 1) throw new WindowError(`maxCount must be a positive integer, got ${maxCount}`);
}
