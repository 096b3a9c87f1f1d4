import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchflowError } from '../../../lib/errors.ts';
import {
  BUCKET_ORIGIN_MS,
  bucketStart,
  GranularityError,
  isMultipleOf,
  parseGranularity,
} from '../../../lib/rollup/granularity.ts';

const SECOND = 1000;
const DAY = 24 * 60 * 60 * SECOND;
const WEEK = 7 * DAY;

/** floor((t − origin) / width) in exact integer arithmetic: the bucket start computed another way. */
function bigIntBucketStart(tMs: number, widthMs: number): number {
  const offset = BigInt(tMs) - BigInt(BUCKET_ORIGIN_MS);
  const width = BigInt(widthMs);
  const floor = offset >= 0n ? offset / width : -((-offset + width - 1n) / width);
  return Number(BigInt(BUCKET_ORIGIN_MS) + floor * width);
}

// From 1900 to 2100, in whole milliseconds.
const times = fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2100, 0, 1) });

describe('parseGranularity', () => {
  it.each([
    ['1-second', '1-second', SECOND],
    ['15-minute', '15-minute', 15 * 60 * SECOND],
    ['15-minutes', '15-minute', 15 * 60 * SECOND],
    ['2-hours', '2-hour', 2 * 60 * 60 * SECOND],
    ['1-day', '1-day', DAY],
    ['02-weeks', '2-week', 2 * WEEK],
  ])('reads %s as the canonical %s', (text, label, ms) => {
    // Prepare
    const input = text;

    // Act
    const granularity = parseGranularity(input);

    // Assess
    expect(granularity).toEqual({ label, ms });
  });

  it.each(['', 'hour', '1 hour', '1-Hour', ' 1-hour', '1-hourss', '0-hour', '-1-hour', '1.5-hour', '1-month', '1-year', '99999999999-week'])(
    'rejects %j with a GranularityError naming the input',
    (text) => {
      // Prepare
      const input = text;

      // Act
      const parse = () => parseGranularity(input);

      // Assess
      expect(parse).toThrow(GranularityError);
      expect(parse).toThrow(BatchflowError);
      expect(parse).toThrow(`"${input}" is not a granularity`);
    },
  );
});

describe('bucketStart', () => {
  it('places the origin on Monday 2000-01-03 00:00 UTC', () => {
    // Prepare
    const origin = new Date(BUCKET_ORIGIN_MS);

    // Act
    const iso = origin.toISOString();

    // Assess
    expect(iso).toBe('2000-01-03T00:00:00.000Z');
    expect(origin.getUTCDay()).toBe(1);
  });

  // Expected values computed by DuckDB 1.x: epoch_ms(time_bucket(INTERVAL '<g>', TIMESTAMP '<t>')).
  it.each([
    ['1-hour', '2024-03-05T13:45:10Z', 1709643600000],
    ['2-weeks', '2024-03-05T13:45:10Z', 1708905600000],
    ['1-week', '1999-12-31T12:00:00Z', 946252800000],
    ['2-weeks', '1970-01-01T00:00:00Z', -259200000],
    ['15-minutes', '1969-07-20T20:17:40Z', -14183100000],
    ['1-day', '1999-12-31T23:59:59.999Z', 946598400000],
    ['3-days', '2000-01-01T00:00:00Z', 946598400000],
  ])('matches DuckDB time_bucket for %s at %s', (g, iso, duckDbStart) => {
    // Prepare
    const granularity = parseGranularity(g);

    // Act
    const start = bucketStart(Date.parse(iso), granularity);

    // Assess
    expect(start).toBe(duckDbStart);
  });

  it('aligns week buckets to Mondays at 00:00 UTC', () => {
    // Prepare
    const week = parseGranularity('1-week');

    fc.assert(
      fc.property(times, (t) => {
        // Act
        const start = bucketStart(t, week);

        // Assess
        const date = new Date(start);
        expect(date.getUTCDay()).toBe(1);
        expect(date.toISOString()).toMatch(/T00:00:00\.000Z$/);
        expect(t - start).toBeGreaterThanOrEqual(0);
        expect(t - start).toBeLessThan(WEEK);
      }),
    );
  });

  it('starts 2-week buckets an even number of weeks from 2000-01-03', () => {
    // Prepare
    const twoWeeks = parseGranularity('2-week');
    const boundaries = [
      ['2000-01-02T23:59:59.999Z', '1999-12-20T00:00:00.000Z'],
      ['2000-01-03T00:00:00.000Z', '2000-01-03T00:00:00.000Z'],
      ['2000-01-16T23:59:59.999Z', '2000-01-03T00:00:00.000Z'],
      ['2000-01-17T00:00:00.000Z', '2000-01-17T00:00:00.000Z'],
      ['2000-01-10T12:00:00.000Z', '2000-01-03T00:00:00.000Z'],
    ];

    // Act
    const starts = boundaries.map(([t]) => new Date(bucketStart(Date.parse(t), twoWeeks)).toISOString());

    // Assess
    expect(starts).toEqual(boundaries.map(([, start]) => start));
  });

  it('floors toward earlier buckets for times before the origin, for every granularity', () => {
    // Prepare
    const granularities = fc.constantFrom('1-second', '7-minute', '1-hour', '5-hour', '1-day', '3-day', '1-week', '2-week');

    fc.assert(
      fc.property(times, granularities, (t, g) => {
        // Act
        const start = bucketStart(t, parseGranularity(g));

        // Assess
        expect(start).toBe(bigIntBucketStart(t, parseGranularity(g).ms));
      }),
    );
  });

  it('maps every time of a bucket to that bucket and the next millisecond past it to the next', () => {
    // Prepare
    const granularities = fc.constantFrom('1-minute', '1-hour', '1-day', '2-week');

    fc.assert(
      fc.property(times, granularities, (t, g) => {
        const granularity = parseGranularity(g);

        // Act
        const start = bucketStart(t, granularity);
        const last = bucketStart(start + granularity.ms - 1, granularity);
        const next = bucketStart(start + granularity.ms, granularity);

        // Assess
        expect(last).toBe(start);
        expect(next).toBe(start + granularity.ms);
      }),
    );
  });
});

describe('isMultipleOf', () => {
  it.each([
    ['1-day', '1-hour', true],
    ['1-week', '1-day', true],
    ['2-hour', '2-hour', true],
    ['1-hour', '7-minute', false],
    ['1-hour', '1-day', false],
    ['2-week', '3-day', false],
  ])('says whether %s is a whole number of %s', (coarse, base, expected) => {
    // Prepare
    const [c, b] = [parseGranularity(coarse), parseGranularity(base)];

    // Act
    const multiple = isMultipleOf(c, b);

    // Assess
    expect(multiple).toBe(expected);
  });
});
