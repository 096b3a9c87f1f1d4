import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fireTimesBetween, parseSchedule } from '../../../lib/analytics/schedule.ts';
import { windowFor, windowsBetween, windowsTouchedBy, WindowError, type Window } from '../../../lib/analytics/windows.ts';
import { BatchflowError } from '../../../lib/errors.ts';
import { boundaryAtOrBefore, DAY, GRANULARITY_MS, HOUR } from '../../support/time.ts';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0) => Date.UTC(y, mo - 1, d, h, mi);
const win = (start: number, end: number) => ({ start: new Date(start), end: new Date(end) });
const show = (ws: readonly Window[]) => ws.map((w) => `${w.start.toISOString()}/${w.end.toISOString()}`);

const granularities = fc.constantFrom(...Object.keys(GRANULARITY_MS));
const times = fc.integer({ min: utc(2001, 1, 1), max: utc(2040, 1, 1) });
const delays = fc.oneof(fc.constantFrom(0, 1, 2, 4), fc.integer({ min: 0, max: 24 * 28 }));

describe('windowFor', () => {
  it.each([
    ['EVERYDAY8AMET before the spring change', utc(2024, 3, 9, 13), '1-day', 0, win(utc(2024, 3, 8), utc(2024, 3, 9))],
    ['EVERYDAY8AMET after the spring change', utc(2024, 3, 10, 12), '1-day', 0, win(utc(2024, 3, 9), utc(2024, 3, 10))],
    ['EVERYDAY8AMET on the spring change, delay reaching past midnight', utc(2024, 3, 10, 12), '1-day', 13, win(utc(2024, 3, 8), utc(2024, 3, 9))],
    ['EVERYDAY8AMET on the fall change, delay landing on midnight', utc(2024, 11, 3, 13), '1-day', 13, win(utc(2024, 11, 2), utc(2024, 11, 3))],
    ['EVERYHOUR with a 1-hour delay', utc(2024, 3, 10, 7), '1-hour', 1, win(utc(2024, 3, 10, 5), utc(2024, 3, 10, 6))],
    ['EVERYHOURBYMIN10, 1-hour', utc(2024, 3, 10, 10, 10), '1-hour', 0, win(utc(2024, 3, 10, 9), utc(2024, 3, 10, 10))],
    ['EVERYHOURBYMIN10, 4-hour', utc(2024, 3, 10, 10, 10), '4-hour', 0, win(utc(2024, 3, 10, 4), utc(2024, 3, 10, 8))],
    ['EVERYWEEK on Sunday, weeks from Monday', utc(2024, 3, 10), '1-week', 0, win(utc(2024, 2, 26), utc(2024, 3, 4))],
    ['a Monday, weeks from Monday', utc(2024, 3, 11), '1-week', 0, win(utc(2024, 3, 4), utc(2024, 3, 11))],
    ['a Monday, 2-week', utc(2024, 3, 11), '2-week', 0, win(utc(2024, 2, 26), utc(2024, 3, 11))],
    ['a Monday, 2-week, delayed into the previous pair', utc(2024, 3, 11), '2-week', 1, win(utc(2024, 2, 12), utc(2024, 2, 26))],
    ['3-day', utc(2024, 3, 10, 12), '3-day', 0, win(utc(2024, 3, 6), utc(2024, 3, 9))],
  ])('closes the right window for %s', (_, fire, granularity, delay, expected) => {
    // Prepare
    const fireTime = new Date(fire);

    // Act
    const window = windowFor(fireTime, granularity, delay);

    // Assess
    expect(window).toEqual(expected);
  });

  it('is the last whole window ending at or before fireTime − delay, for every granularity', () => {
    fc.assert(
      fc.property(times, granularities, delays, (t, g, delay) => {
        // Prepare
        const end = boundaryAtOrBefore(t - delay * HOUR, GRANULARITY_MS[g]);

        // Act
        const window = windowFor(new Date(t), g, delay);

        // Assess
        expect(window).toEqual(win(end - GRANULARITY_MS[g], end));
      }),
    );
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects a delay of %s', (delay) => {
    // Prepare
    const fireTime = new Date(utc(2024, 1, 1));

    // Act
    const compute = () => windowFor(fireTime, '1-hour', delay);

    // Assess
    expect(compute).toThrow(WindowError);
    expect(compute).toThrow(BatchflowError);
  });
});

describe('windowsBetween', () => {
  it('closes each day once when DST moves EVERYDAY8AMET across a delayed midnight', () => {
    // Prepare
    const fires = [utc(2024, 3, 9, 13), utc(2024, 3, 10, 12), utc(2024, 3, 11, 12), utc(2024, 11, 2, 12), utc(2024, 11, 3, 13)].map((t) => new Date(t));

    // Act
    const beforeSpring = windowsBetween(fires[0], fires[1], '1-day', 13);
    const afterSpring = windowsBetween(fires[1], fires[2], '1-day', 13);
    const acrossFall = windowsBetween(fires[3], fires[4], '1-day', 13);

    // Assess: windowFor alone would close [03-08, 03-09) twice, and skip [11-01, 11-02).
    expect(beforeSpring).toEqual([]);
    expect(afterSpring).toEqual([win(utc(2024, 3, 9), utc(2024, 3, 10))]);
    expect(acrossFall).toEqual([win(utc(2024, 11, 1), utc(2024, 11, 2)), win(utc(2024, 11, 2), utc(2024, 11, 3))]);
  });

  it('over consecutive fire times of a schedule, closes contiguous windows, each once', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('EVERYHOUR', 'EVERYDAY8AMET', 'EVERYWEEK', 'EVERYHOURBYMIN10'),
        granularities,
        delays,
        fc.integer({ min: utc(2023, 1, 1), max: utc(2026, 1, 1) }),
        (event, g, delay, fromMs) => {
          // Prepare
          const from = new Date(fromMs);
          const fires = fireTimesBetween(parseSchedule(event), from, new Date(fromMs + 120 * DAY), 200);
          const bounds = [from, ...fires];

          // Act
          const runs = fires.map((t, i) => windowsBetween(bounds[i], t, g, delay));

          // Assess
          const all = runs.flat();
          const firstEnd = boundaryAtOrBefore(fromMs - delay * HOUR, GRANULARITY_MS[g]) + GRANULARITY_MS[g];
          const lastEnd = boundaryAtOrBefore(fires.at(-1)!.getTime() - delay * HOUR, GRANULARITY_MS[g]);
          const expected = Array.from({ length: Math.max(0, (lastEnd - firstEnd) / GRANULARITY_MS[g] + 1) }, (_, i) =>
            win(firstEnd + (i - 1) * GRANULARITY_MS[g], firstEnd + i * GRANULARITY_MS[g]),
          );
          expect(show(all)).toEqual(show(expected));
          runs.forEach((run, i) => {
            if (run.length > 0) expect(run.at(-1)).toEqual(windowFor(fires[i], g, delay));
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('pages by maxCount, resuming from the last window end plus the delay', () => {
    // Prepare
    const from = new Date(utc(2024, 1, 1, 0, 30));
    const to = new Date(utc(2024, 1, 9, 5));
    const whole = windowsBetween(from, to, '1-hour', 4);

    // Act
    const pages: Window[][] = [];
    for (let cursor = from; ; ) {
      const page = windowsBetween(cursor, to, '1-hour', 4, 50);
      if (page.length === 0) break;
      pages.push(page);
      cursor = new Date(page.at(-1)!.end.getTime() + 4 * HOUR);
    }

    // Assess: windows end from 2023-12-31 21:00 (00:30 − 4 h, next hour) to 2024-01-09 01:00 (05:00 − 4 h).
    expect(whole.length).toBe(8 * 24 + 4 + 1);
    expect(pages.map((p) => p.length)).toEqual([50, 50, 50, 47]);
    expect(show(pages.flat())).toEqual(show(whole));
  });
});

describe('windowsTouchedBy', () => {
  it.each([
    ['hours around midnight', utc(2024, 3, 9, 23, 30), utc(2024, 3, 10, 1, 10), '1-hour', [utc(2024, 3, 9, 23), utc(2024, 3, 10), utc(2024, 3, 10, 1)]],
    ['a single instant', utc(2024, 3, 10, 12), utc(2024, 3, 10, 12), '1-day', [utc(2024, 3, 10)]],
    ['the last minute of a week and the first of the next', utc(2024, 3, 10, 23, 59), utc(2024, 3, 11), '1-week', [utc(2024, 3, 4), utc(2024, 3, 11)]],
    ['a week of data, 12-hour', utc(2024, 11, 1, 6), utc(2024, 11, 3, 12), '12-hour', [utc(2024, 11, 1), utc(2024, 11, 1, 12), utc(2024, 11, 2), utc(2024, 11, 2, 12), utc(2024, 11, 3), utc(2024, 11, 3, 12)]],
  ])('finds the windows of %s', (_, min, max, g, starts) => {
    // Prepare
    const range = [new Date(min), new Date(max)] as const;

    // Act
    const windows = windowsTouchedBy(range[0], range[1], g);

    // Assess
    expect(windows).toEqual(starts.map((s) => win(s, s + GRANULARITY_MS[g])));
  });

  it('returns exactly the windows that overlap the data range', () => {
    fc.assert(
      fc.property(times, fc.integer({ min: 0, max: 30 * DAY }), granularities, (min, span, g) => {
        // Prepare
        const max = min + span;
        const first = boundaryAtOrBefore(min, GRANULARITY_MS[g]);
        const expected = [];
        for (let s = first; s <= max; s += GRANULARITY_MS[g]) expected.push(win(s, s + GRANULARITY_MS[g]));

        // Act
        const windows = windowsTouchedBy(new Date(min), new Date(max), g);

        // Assess
        expect(show(windows)).toEqual(show(expected));
      }),
    );
  });

  it('rejects a reversed range and one wider than maxCount windows', () => {
    // Prepare
    const a = new Date(utc(2024, 1, 2));
    const b = new Date(utc(2024, 1, 1));

    // Act
    const reversed = () => windowsTouchedBy(a, b, '1-hour');
    const tooWide = () => windowsTouchedBy(b, a, '1-hour', 24);

    // Assess
    expect(reversed).toThrow(WindowError);
    expect(tooWide).toThrow('touches 25 1-hour windows, more than 24');
    expect(windowsTouchedBy(b, new Date(a.getTime() - 1), '1-hour', 24)).toHaveLength(24);
  });
});
