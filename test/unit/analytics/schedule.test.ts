import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fireTimesBetween,
  parseSchedule,
  previousFireTime,
  ScheduleError,
  SCHEDULE_EVENTS,
  toEventBridgeScheduleExpression,
} from '../../../lib/analytics/schedule.ts';
import { BatchflowError } from '../../../lib/errors.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const utc = (y: number, mo: number, d: number, h = 0, mi = 0) => new Date(Date.UTC(y, mo - 1, d, h, mi));
const iso = (dates: readonly Date[]) => dates.map((d) => d.toISOString());

describe('parseSchedule', () => {
  it.each([
    ['EVERYHOUR', '0 * * * *', 'UTC'],
    ['EVERYDAY8AMET', '0 8 * * *', 'America/New_York'],
    ['EVERYWEEK', '0 0 * * 0', 'UTC'],
    ['EVERYHOURBYMIN10', '10 * * * *', 'UTC'],
  ])('reads the event %s as %s in %s, whatever time zone is passed', (event, cron, timezone) => {
    // Prepare
    const passed = 'Europe/Paris';

    // Act
    const schedule = parseSchedule(event, passed);

    // Assess
    expect(schedule).toEqual({ event, cron, timezone });
  });

  it('covers every event of the seed table', () => {
    // Prepare
    const seed = ['EVERYHOUR', 'EVERYDAY8AMET', 'EVERYWEEK', 'EVERYHOURBYMIN10'];

    // Act
    const names = Object.keys(SCHEDULE_EVENTS);

    // Assess
    expect(names.sort()).toEqual(seed.sort());
  });

  it('reads a 5-field cron expression in a time zone, normalizing spaces and ?', () => {
    // Prepare
    const text = '  15   6 ? *  1-5 ';

    // Act
    const schedule = parseSchedule(text, 'Europe/Berlin');

    // Assess
    expect(schedule).toEqual({ event: null, cron: '15 6 * * 1-5', timezone: 'Europe/Berlin' });
  });

  it.each([
    ['EVERYDAY', undefined, 'expected an event name (EVERYHOUR, EVERYDAY8AMET, EVERYWEEK, EVERYHOURBYMIN10) or a 5-field cron expression'],
    ['everyhour', undefined, 'expected an event name'],
    ['0 0 * *', undefined, 'expected an event name'],
    ['0 0 0 * * *', undefined, 'expected an event name'],
    ['@daily', undefined, 'expected an event name'],
    ['61 * * * *', undefined, 'minute: 61'],
    ['0 24 * * *', undefined, 'hour: 24'],
    ['0 0 1 * 1', undefined, 'restricts both day of month and day of week'],
    ['0 0 15W * *', undefined, 'the day of month field "15W" uses syntax EventBridge Scheduler does not share'],
    ['0 0 * * 5#2', undefined, 'the day of week field "5#2"'],
    ['0 0 30 2 *', undefined, 'never fires'],
    ['0 8 * * *', 'Mars/Olympus', '"Mars/Olympus" is not an IANA time zone'],
    ['0 8 * * *', '', '"" is not an IANA time zone'],
  ])('rejects %j in %j: %s', (text, timezone, message) => {
    // Prepare
    const input = text;

    // Act
    const parse = () => parseSchedule(input, timezone);

    // Assess
    expect(parse).toThrow(ScheduleError);
    expect(parse).toThrow(BatchflowError);
    expect(parse).toThrow(message);
  });
});

describe('fireTimesBetween', () => {
  it('fires EVERYDAY8AMET at 13:00 UTC before and 12:00 UTC after the spring change (2024-03-10)', () => {
    // Prepare
    const schedule = parseSchedule('EVERYDAY8AMET');

    // Act
    const fires = fireTimesBetween(schedule, utc(2024, 3, 8), utc(2024, 3, 12));

    // Assess: EST is UTC−5, EDT (from 02:00 local on 2024-03-10) is UTC−4.
    expect(iso(fires)).toEqual(iso([utc(2024, 3, 8, 13), utc(2024, 3, 9, 13), utc(2024, 3, 10, 12), utc(2024, 3, 11, 12)]));
  });

  it('fires EVERYDAY8AMET at 12:00 UTC before and 13:00 UTC after the fall change (2024-11-03)', () => {
    // Prepare
    const schedule = parseSchedule('EVERYDAY8AMET');

    // Act
    const fires = fireTimesBetween(schedule, utc(2024, 11, 1), utc(2024, 11, 5));

    // Assess
    expect(iso(fires)).toEqual(iso([utc(2024, 11, 1, 12), utc(2024, 11, 2, 12), utc(2024, 11, 3, 13), utc(2024, 11, 4, 13)]));
  });

  it('fires EVERYHOUR every UTC hour through both DST changes', () => {
    for (const [from, to] of [
      [utc(2024, 3, 9), utc(2024, 3, 12)],
      [utc(2024, 11, 2), utc(2024, 11, 5)],
    ]) {
      // Prepare
      const schedule = parseSchedule('EVERYHOUR');
      const expected = Array.from({ length: (to.getTime() - from.getTime()) / HOUR }, (_, i) => new Date(from.getTime() + (i + 1) * HOUR));

      // Act
      const fires = fireTimesBetween(schedule, from, to);

      // Assess
      expect(iso(fires)).toEqual(iso(expected));
    }
  });

  it('fires EVERYHOURBYMIN10 ten minutes past every hour', () => {
    // Prepare
    const schedule = parseSchedule('EVERYHOURBYMIN10');
    const from = utc(2024, 12, 31, 22);

    // Act
    const fires = fireTimesBetween(schedule, from, utc(2025, 1, 1, 1, 10));

    // Assess
    expect(iso(fires)).toEqual(iso([utc(2024, 12, 31, 22, 10), utc(2024, 12, 31, 23, 10), utc(2025, 1, 1, 0, 10), utc(2025, 1, 1, 1, 10)]));
  });

  it('fires EVERYWEEK at every Sunday 00:00 UTC of a year, across week and year boundaries', () => {
    // Prepare
    const schedule = parseSchedule('EVERYWEEK');
    // 2023-12-31 was a Sunday; count weeks from there with Date.UTC arithmetic.
    const firstSunday = Date.UTC(2023, 11, 31);
    const expected = Array.from({ length: 53 }, (_, i) => new Date(firstSunday + i * 7 * DAY)).filter((d) => d < utc(2024, 12, 31));

    // Act
    const fires = fireTimesBetween(schedule, utc(2023, 12, 30), utc(2024, 12, 31));

    // Assess
    expect(iso(fires)).toEqual(iso(expected));
    expect(fires.every((d) => d.getUTCDay() === 0)).toBe(true);
  });

  it('excludes fromExclusive and includes toInclusive, to the millisecond', () => {
    // Prepare
    const schedule = parseSchedule('EVERYHOUR');

    // Act
    const exact = fireTimesBetween(schedule, utc(2024, 1, 1, 1), utc(2024, 1, 1, 3));
    const off = fireTimesBetween(schedule, new Date(utc(2024, 1, 1, 1).getTime() - 1), new Date(utc(2024, 1, 1, 3).getTime() - 1));
    const empty = fireTimesBetween(schedule, utc(2024, 1, 1, 3), utc(2024, 1, 1, 1));

    // Assess
    expect(iso(exact)).toEqual(iso([utc(2024, 1, 1, 2), utc(2024, 1, 1, 3)]));
    expect(iso(off)).toEqual(iso([utc(2024, 1, 1, 1), utc(2024, 1, 1, 2)]));
    expect(empty).toEqual([]);
  });

  it('catches up in pages of maxCount that join into the whole range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 400 }), (maxCount, hours) => {
        // Prepare
        const schedule = parseSchedule('EVERYDAY8AMET');
        const from = utc(2024, 10, 1);
        const to = new Date(from.getTime() + hours * 6 * HOUR);
        const whole = fireTimesBetween(schedule, from, to, 100_000);

        // Act
        const pages: Date[][] = [];
        for (let cursor = from; ; ) {
          const page = fireTimesBetween(schedule, cursor, to, maxCount);
          if (page.length === 0) break;
          pages.push(page);
          cursor = page.at(-1)!;
        }

        // Assess
        expect(pages.every((p) => p.length <= maxCount)).toBe(true);
        expect(iso(pages.flat())).toEqual(iso(whole));
      }),
      { numRuns: 30 },
    );
  });

  it('skips a local time the spring change skips, as EventBridge Scheduler does', () => {
    // Prepare
    const schedule = parseSchedule('30 2 * * *', 'America/New_York');

    // Act
    const fires = fireTimesBetween(schedule, utc(2024, 3, 9), utc(2024, 3, 12));

    // Assess: 02:30 EST = 07:30 UTC; 2024-03-10 has no 02:30; 02:30 EDT = 06:30 UTC.
    expect(iso(fires)).toEqual(iso([utc(2024, 3, 9, 7, 30), utc(2024, 3, 11, 6, 30)]));
  });

  it('fires once at a local time the fall change repeats, as EventBridge Scheduler does', () => {
    // Prepare
    const daily = parseSchedule('30 1 * * *', 'America/New_York');
    const hourly = parseSchedule('30 * * * *', 'America/New_York');

    // Act
    const dailyFires = fireTimesBetween(daily, utc(2024, 11, 2), utc(2024, 11, 5));
    const hourlyFires = fireTimesBetween(hourly, utc(2024, 11, 3, 4), utc(2024, 11, 3, 8));

    // Assess: 01:30 EDT = 05:30 UTC comes first; 01:30 EST (06:30 UTC) is the repeat.
    expect(iso(dailyFires)).toEqual(iso([utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]));
    expect(iso(hourlyFires)).toEqual(iso([utc(2024, 11, 3, 4, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 7, 30)]));
  });

  it('rejects a maxCount that is not a positive integer, and an invalid date', () => {
    // Prepare
    const schedule = parseSchedule('EVERYHOUR');

    // Act
    const list = () => fireTimesBetween(schedule, utc(2024, 1, 1), utc(2024, 1, 2), 0);
    const invalid = () => fireTimesBetween(schedule, new Date(Number.NaN), utc(2024, 1, 2));

    // Assess
    expect(list).toThrow(ScheduleError);
    expect(invalid).toThrow('not a valid date');
  });
});

describe('previousFireTime', () => {
  it.each([
    ['EVERYDAY8AMET', utc(2024, 3, 10, 12), utc(2024, 3, 10, 12)],
    ['EVERYDAY8AMET', new Date(utc(2024, 3, 10, 12).getTime() - 1), utc(2024, 3, 9, 13)],
    ['EVERYDAY8AMET', utc(2024, 11, 3, 12, 59), utc(2024, 11, 2, 12)],
    ['EVERYDAY8AMET', utc(2024, 11, 3, 13), utc(2024, 11, 3, 13)],
    ['EVERYWEEK', utc(2024, 3, 9, 23, 59), utc(2024, 3, 3)],
    ['EVERYHOURBYMIN10', utc(2024, 3, 10, 0, 9), utc(2024, 3, 9, 23, 10)],
  ])('for %s at %s is %s', (event, at, expected) => {
    // Prepare
    const schedule = parseSchedule(event);

    // Act
    const previous = previousFireTime(schedule, at);

    // Assess
    expect(previous?.toISOString()).toBe(expected.toISOString());
  });

  it('skips the time croner moves out of the spring gap', () => {
    // Prepare
    const daily = parseSchedule('30 2 * * *', 'America/New_York');

    // Act
    const previous = previousFireTime(daily, utc(2024, 3, 10, 12));

    // Assess: 2024-03-10 has no 02:30, so the last fire is 02:30 EST the day before.
    expect(previous?.toISOString()).toBe(utc(2024, 3, 9, 7, 30).toISOString());
  });

  it('skips the repeat of a local time after the fall change', () => {
    // Prepare
    const hourly = parseSchedule('30 * * * *', 'America/New_York');

    // Act
    const previous = previousFireTime(hourly, utc(2024, 11, 3, 7));

    // Assess
    expect(previous?.toISOString()).toBe(utc(2024, 11, 3, 5, 30).toISOString());
  });

  it('agrees with the last of fireTimesBetween over the preceding days', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('EVERYHOUR', 'EVERYDAY8AMET', 'EVERYWEEK', 'EVERYHOURBYMIN10'),
        fc.integer({ min: Date.UTC(2023, 0, 1), max: Date.UTC(2026, 0, 1) }),
        (event, atMs) => {
          // Prepare
          const schedule = parseSchedule(event);
          const at = new Date(atMs);

          // Act
          const previous = previousFireTime(schedule, at);

          // Assess
          expect(previous?.toISOString()).toBe(fireTimesBetween(schedule, new Date(atMs - 8 * DAY), at).at(-1)?.toISOString());
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('toEventBridgeScheduleExpression', () => {
  it.each([
    ['EVERYHOUR', undefined, 'cron(0 * * * ? *)', 'UTC'],
    ['EVERYDAY8AMET', undefined, 'cron(0 8 * * ? *)', 'America/New_York'],
    ['EVERYWEEK', undefined, 'cron(0 0 ? * SUN *)', 'UTC'],
    ['EVERYHOURBYMIN10', undefined, 'cron(10 * * * ? *)', 'UTC'],
    ['*/15 9-17 * * 1-5', 'Europe/London', 'cron(0/15 9-17 ? * MON,TUE,WED,THU,FRI *)', 'Europe/London'],
    ['0 0 1,15 * *', undefined, 'cron(0 0 1,15 * ? *)', 'UTC'],
    ['0 0 L * *', undefined, 'cron(0 0 L * ? *)', 'UTC'],
    ['0 12 * */3 7', undefined, 'cron(0 12 ? 1/3 SUN *)', 'UTC'],
    ['5 4 * * fri-sun', undefined, 'cron(5 4 ? * SUN,FRI,SAT *)', 'UTC'],
    ['0 6 * * */2', undefined, 'cron(0 6 ? * SUN,TUE,THU,SAT *)', 'UTC'],
    ['0 */6 */2 JAN-MAR *', undefined, 'cron(0 0/6 1/2 JAN-MAR ? *)', 'UTC'],
  ])('writes %s (%s) as %s', (text, timezone, expression, zone) => {
    // Prepare
    const schedule = parseSchedule(text, timezone);

    // Act
    const eventBridge = toEventBridgeScheduleExpression(schedule);

    // Assess
    expect(eventBridge).toEqual({ expression, timezone: zone });
  });
});

describe('toEventBridgeScheduleExpression day of week', () => {
  const names = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
  const day = fc.oneof(fc.integer({ min: 0, max: 7 }).map(String), fc.constantFrom(...names, 'mon', 'Fri'));
  const part = fc.oneof(
    day,
    fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 7 })).filter(([a, b]) => a <= b).map(([a, b]) => `${a}-${b}`),
    fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 7 })).map(([a, s]) => `${a}-6/${s}`),
    fc.integer({ min: 1, max: 7 }).map((s) => `*/${s}`),
  );

  it('names the weekdays croner fires on', () => {
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 3 }), (parts) => {
        // Prepare
        const schedule = parseSchedule(`0 0 * * ${parts.join(',')}`);
        const fired = new Set(fireTimesBetween(schedule, utc(2024, 1, 1), utc(2024, 1, 15)).map((d) => names[d.getUTCDay()]));

        // Act
        const { expression } = toEventBridgeScheduleExpression(schedule);

        // Assess
        const listed = /^cron\(0 0 \? \* ([A-Z,]+) \*\)$/.exec(expression)?.[1].split(',');
        expect(new Set(listed)).toEqual(fired);
      }),
      { numRuns: 200 },
    );
  });
});
