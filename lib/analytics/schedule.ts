import { Cron } from 'croner';
import { BatchflowError } from '../errors.ts';

/**
 * When a job runs: one of the event names below or a 5-field cron expression, in an IANA time
 * zone. Fire times follow EventBridge Scheduler, which runs the deployed schedules: a local time
 * that a spring-forward skips does not fire, and one that a fall-back repeats fires once
 * (https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst).
 */

/** The named schedules of the job catalogue, each with its cron expression and time zone. */
export const SCHEDULE_EVENTS = {
  EVERYHOUR: { cron: '0 * * * *', timezone: 'UTC' },
  EVERYDAY8AMET: { cron: '0 8 * * *', timezone: 'America/New_York' },
  EVERYWEEK: { cron: '0 0 * * 0', timezone: 'UTC' },
  EVERYHOURBYMIN10: { cron: '10 * * * *', timezone: 'UTC' },
} as const;

/** An event name of SCHEDULE_EVENTS. */
export type ScheduleEvent = keyof typeof SCHEDULE_EVENTS;

/** A validated schedule: its cron fields (minute hour day-of-month month day-of-week) and time zone. */
export interface Schedule {
  /** The event name it was given as, or null for a cron expression. */
  readonly event: ScheduleEvent | null;
  /** Five fields separated by single spaces. */
  readonly cron: string;
  readonly timezone: string;
}

/** A schedule or time zone that is not valid, or a catch-up bound that is not. */
export class ScheduleError extends BatchflowError {
  override name = 'ScheduleError';
}

// Only the syntax both croner and EventBridge Scheduler read the same way (L, W and # differ).
const FIELDS = [
  { name: 'minute', syntax: /^[0-9*,/-]+$/ },
  { name: 'hour', syntax: /^[0-9*,/-]+$/ },
  { name: 'day of month', syntax: /^(?:L|[0-9*,/-]+)$/ },
  { name: 'month', syntax: /^[0-9A-Za-z*,/-]+$/ },
  { name: 'day of week', syntax: /^[0-9A-Za-z*,/-]+$/ },
] as const;

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

/**
 * Validates an event name (which carries its own time zone, so `timezone` is ignored) or a 5-field
 * cron expression in `timezone` (default UTC); throws ScheduleError saying what is wrong.
 */
export function parseSchedule(schedule: string, timezone = 'UTC'): Schedule {
  const text = schedule.trim();
  if (Object.hasOwn(SCHEDULE_EVENTS, text)) {
    const event = text as ScheduleEvent;
    return { event, ...SCHEDULE_EVENTS[event] };
  }
  // croner would read '?' as the current date's value; both cron and EventBridge mean "any".
  const fields = text.split(/\s+/).map((f) => (f === '?' ? '*' : f));
  const fail = (why: string): never => {
    throw new ScheduleError(`schedule "${schedule}": ${why}`);
  };
  if (fields.length !== 5) {
    fail(`expected an event name (${Object.keys(SCHEDULE_EVENTS).join(', ')}) or a 5-field cron expression "minute hour day-of-month month day-of-week"`);
  }
  fields.forEach((f, i) => {
    if (!FIELDS[i].syntax.test(f)) fail(`the ${FIELDS[i].name} field "${f}" uses syntax EventBridge Scheduler does not share`);
  });
  if (fields[2] !== '*' && fields[4] !== '*') {
    fail('restricts both day of month and day of week, which cron reads as either and EventBridge Scheduler cannot express: set one of them to *');
  }
  if (!isTimeZone(timezone)) fail(`"${timezone}" is not an IANA time zone (e.g. "UTC", "America/New_York")`);
  const cron = fields.join(' ');
  let job: Cron;
  try {
    job = new Cron(cron, { mode: '5-part', timezone, paused: true });
  } catch (err) {
    return fail((err as Error).message);
  }
  if (job.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) fail('never fires');
  return { event: null, cron, timezone };
}

/**
 * The fire times in (fromExclusive, toInclusive], oldest first, at most `maxCount` of them: after
 * a longer outage, catch up in pages, passing the last one back as `fromExclusive`.
 */
export function fireTimesBetween(schedule: Schedule, fromExclusive: Date, toInclusive: Date, maxCount = 10_000): Date[] {
  if (!Number.isSafeInteger(maxCount) || maxCount < 1) throw new ScheduleError(`maxCount must be a positive integer, got ${maxCount}`);
  checkDates(fromExclusive, toInclusive);
  const job = cronOf(schedule);
  const fires: Date[] = [];
  for (let t = job.nextRun(fromExclusive); t !== null && t <= toInclusive && fires.length < maxCount; t = job.nextRun(t)) {
    if (firesAt(job, schedule.timezone, t)) fires.push(t);
  }
  return fires;
}

/** The latest fire time at or before `atOrBefore`, or null if the schedule never fired before it. */
export function previousFireTime(schedule: Schedule, atOrBefore: Date): Date | null {
  checkDates(atOrBefore);
  const job = cronOf(schedule);
  // croner counts a run in the same second as the reference as before it, so step past the instant.
  let reference = new Date(atOrBefore.getTime() + 1);
  // A shifted or repeated run is skipped; at most a couple sit next to each other around a DST change.
  for (let tries = 0; tries < 8; tries++) {
    const [t] = job.previousRuns(1, reference);
    if (t === undefined) return null;
    if (t <= atOrBefore && firesAt(job, schedule.timezone, t)) return t;
    reference = t;
  }
  return null;
}

/**
 * The schedule in EventBridge Scheduler's 6-field syntax, `cron(minutes hours day-of-month month
 * day-of-week year)` (one of the day fields '?', weekdays as SUN-SAT), with its time zone for
 * `ScheduleExpressionTimezone`.
 */
export function toEventBridgeScheduleExpression(schedule: Schedule): { expression: string; timezone: string } {
  const [minute, hour, dom, month, dow] = schedule.cron.split(' ');
  const [dayOfMonth, dayOfWeek] = dow === '*' ? [fromStep(dom, '1'), '?'] : ['?', weekdays(dow).map((d) => DAY_NAMES[d]).join(',')];
  return {
    expression: `cron(${fromStep(minute, '0')} ${fromStep(hour, '0')} ${dayOfMonth} ${fromStep(month, '1')} ${dayOfWeek} *)`,
    timezone: schedule.timezone,
  };
}

function cronOf(schedule: Schedule): Cron {
  return new Cron(schedule.cron, { mode: '5-part', timezone: schedule.timezone, paused: true });
}

function checkDates(...dates: Date[]): void {
  if (dates.some((d) => Number.isNaN(d.getTime()))) throw new ScheduleError('a fire-time bound is not a valid date');
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

/** `*` with a step starts at the field's first value; EventBridge documents the explicit form (0/15). */
function fromStep(field: string, first: string): string {
  return field
    .split(',')
    .map((part) => part.replace(/^\*\//, `${first}/`))
    .join(',');
}

/** The weekdays (0 = Sunday) a day-of-week field names, read as cron does (7 is Sunday too). */
function weekdays(field: string): number[] {
  const day = (text: string): number => {
    const named = DAY_NAMES.indexOf(text.toUpperCase() as (typeof DAY_NAMES)[number]);
    return named >= 0 ? named : Number(text);
  };
  const days = new Set<number>();
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    const [low, high] = range.split('-');
    // As in croner, SUN ending a range is 7, so FRI-SUN is Friday to Sunday.
    const to = high === undefined ? day(low) : high.toUpperCase() === 'SUN' ? 7 : day(high);
    const [from, last] = range === '*' ? [0, 6] : [day(low), to];
    for (let d = from; d <= last; d += stepText ? Number(stepText) : 1) days.add(d % 7);
  }
  return [...days].sort((a, b) => a - b);
}

/** Whether EventBridge fires at `t`: croner moves a run out of a DST gap and repeats one in an overlap. */
function firesAt(job: Cron, timezone: string, t: Date): boolean {
  return job.match(t) && !isRepeatedLocalTime(t, timezone);
}

const HOUR_MS = 3_600_000;
const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** Whether the local time at `t` already occurred earlier (the second pass after a fall-back). */
function isRepeatedLocalTime(t: Date, timezone: string): boolean {
  if (timezone === 'UTC') return false;
  // Every time zone's offset changes by at most a few hours at a time.
  const before = new Date(t.getTime() - 3 * HOUR_MS);
  const drop = offsetMs(before, timezone) - offsetMs(t, timezone);
  return drop > 0 && localMs(new Date(t.getTime() - drop), timezone) === localMs(t, timezone);
}

function offsetMs(t: Date, timezone: string): number {
  return localMs(t, timezone) - Math.floor(t.getTime() / 1000) * 1000;
}

/** The local wall-clock time at `t`, to the second, read as if it were UTC. */
function localMs(t: Date, timezone: string): number {
  let format = wallClocks.get(timezone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    wallClocks.set(timezone, format);
  }
  const part = Object.fromEntries(format.formatToParts(t).map((p) => [p.type, Number(p.value)]));
  return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second);
}
