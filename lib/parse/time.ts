/**
 * Timestamps parsed straight from bytes: ISO 8601 / RFC 3339 text, epoch numbers, and strftime-style
 * patterns, with local times (no offset written) read in an IANA time zone. A failure is NaN, never
 * an exception: the hot path runs through here once per record.
 *
 * Fractions finer than a millisecond are truncated (toward the past), never rounded: buckets start
 * on whole milliseconds, so the truncated time always falls in the bucket holding the exact
 * instant; rounding would move 23:59:59.9995 into the next day.
 */

import { BatchflowError } from '../errors.ts';
import { parseDecimal } from './numbers.ts';

/** `iso`, an epoch unit, or a strftime-style pattern (a string holding `%`): see parseTimePattern. */
export type TimeFormat = 'iso' | 'epoch_s' | 'epoch_ms' | 'epoch_us' | 'epoch_ns' | (string & {});

/** Reads a timestamp in bytes [start, end) as epoch milliseconds, NaN when it is not valid. */
export type TimeParser = (bytes: Uint8Array, start: number, end: number) => number;

/** A timeFormat pattern or timeZone that cannot be used. */
export class TimeFormatError extends BatchflowError {
  override name = 'TimeFormatError';
}

// Date's own range: ±100,000,000 days around the epoch.
const MAX_TIME_MS = 8.64e15;
/**
 * What a compiled pattern's last read found: `local` in ms, the instant itself when `hasOffset`
 * (an offset or Z was written), else a wall-clock time for the zone to resolve. One shared object:
 * the readers return a boolean instead of allocating a result per value.
 */
const parsed = { local: 0, hasOffset: false };

/**
 * The parser of one dataset's time column: `format` as in TimeFormat, `timeZone` (IANA name) for
 * times written without an offset. Throws TimeFormatError for an unknown zone or a bad pattern.
 *
 * A local time that a zone skips (a spring-forward gap, 02:30 in New York on 2024-03-10) is read
 * with the offset before the gap (02:30 EST = 03:30 EDT); one that a zone repeats (01:30 on
 * 2024-11-03) is the later of its two instants (01:30 EST). Postgres's timestamptz input and
 * DuckDB's ICU casts do the same.
 *
 * @example
 * createTimeParser('%d/%m/%Y %H:%M', 'Europe/Paris')(Buffer.from('01/02/2013 05:00'), 0, 16);
 * // → 1359691200000 (2013-02-01T04:00:00Z)
 */
export function createTimeParser(format: TimeFormat, timeZone = 'UTC'): TimeParser {
  const zone = timeZone === 'UTC' ? undefined : createZone(timeZone);
  if (format === 'epoch_s') return (b, s, e) => inRange(parseDecimal(b, s, e, 3));
  if (format === 'epoch_ms') return (b, s, e) => inRange(parseDecimal(b, s, e, 0));
  if (format === 'epoch_us') return (b, s, e) => inRange(parseEpochFloor(b, s, e, 3));
  if (format === 'epoch_ns') return (b, s, e) => inRange(parseEpochFloor(b, s, e, 6));
  if (format === 'iso') {
    // UTC, the default: the wall time is the instant, and the reader calls parseIsoUtc itself.
    if (zone === undefined) return parseIsoUtc;
    return (b, s, e) => {
      const ms = readIso(b, s, e);
      return ms !== ms ? NaN : inRange(isoHasOffset(b, s, e) ? ms : zone(ms));
    };
  }
  const read = compilePattern(format);
  if (zone === undefined) return (b, s, e) => inRange(read(b, s, e) ? parsed.local : NaN);
  return (b, s, e) => {
    if (!read(b, s, e)) return NaN;
    return inRange(parsed.hasOffset ? parsed.local : zone(parsed.local));
  };
}

function inRange(ms: number): number {
  return ms >= -8.64e15 && ms <= 8.64e15 /* MAX_TIME_MS */ ? ms : NaN;
}

/**
 * An ISO 8601 timestamp in UTC (no offset: UTC), as epoch ms, or NaN: what parseTimestamp's 'iso'
 * reads, and what the Parquet reader uses for string timestamps.
 */
export function parseIsoUtc(b: Uint8Array, start: number, end: number): number {
  const ms = readIso(b, start, end);
  return ms >= -8.64e15 && ms <= 8.64e15 /* MAX_TIME_MS */ ? ms : NaN;
}

/** Whether a valid ISO text (readIso read it) ends in an offset or Z: past the date, a sign or a z. */
function isoHasOffset(b: Uint8Array, start: number, end: number): boolean {
  const last = b[end - 1] | 32;
  if (last === 122 /* z */) return true;
  for (let i = start + 10; i < end; i++) if (b[i] === 43 /* + */ || b[i] === 45 /* - */) return true;
  return false;
}

/**
 * Reads `YYYY-MM-DD`, optionally followed by `T`, `t` or a space and `HH:MM[:SS[(.|,)fraction]]`,
 * optionally followed by `Z`, `z`, `±HH`, `±HHMM` or `±HH:MM`, as ms: the instant when an offset
 * was written, else the wall time read as UTC. NaN when it is not that.
 */
function readIso(b: Uint8Array, start: number, end: number): number {
  if (end - start < 10 || b[start + 4] !== 45 /* - */ || b[start + 7] !== 45 /* - */) return NaN;
  const century = digits2(b, start);
  const yearOfCentury = digits2(b, start + 2);
  const year = century * 100 + yearOfCentury;
  const month = digits2(b, start + 5);
  const day = digits2(b, start + 8);
  if (century < 0 || yearOfCentury < 0 || month < 1 || month > 12) return NaN;
  if (day < 1 || day > daysInMonth(year, month)) return NaN;
  let ms = daysFromCivil(year, month, day) * 86_400_000;
  let p = start + 10;
  if (p === end) return ms;

  const separator = b[p];
  if ((separator !== 84 /* T */ && separator !== 116 /* t */ && separator !== 32 /* space */) || end - p < 6) return NaN;
  if (b[p + 3] !== 58 /* : */) return NaN;
  const hour = digits2(b, p + 1);
  const minute = digits2(b, p + 4);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return NaN;
  ms += hour * 3_600_000 + minute * 60_000;
  p += 6;
  if (p < end && b[p] === 58 /* : */) {
    if (end - p < 3) return NaN;
    const second = digits2(b, p + 1);
    if (second < 0 || second > 59) return NaN;
    ms += second * 1000;
    p += 3;
    if (p < end && (b[p] === 46 /* . */ || b[p] === 44 /* , (ISO 8601's other decimal sign) */)) {
      p++;
      const fractionStart = p;
      let fraction = 0;
      for (; p < end; p++) {
        const d = b[p] - 48 /* 0 */;
        if (d < 0 || d > 9) break;
        if (p - fractionStart < 3) fraction = fraction * 10 + d;
      }
      const fractionDigits = p - fractionStart;
      if (fractionDigits === 0) return NaN;
      // Digits past the millisecond are dropped: truncation, see the file's comment.
      ms += fractionDigits >= 3 ? fraction : fractionDigits === 2 ? fraction * 10 : fraction * 100;
    }
  }
  if (p === end) return ms;
  // NaN when the rest is not an offset: NaN propagates.
  return ms - readOffset(b, p, end);
}

/** `Z`, `z`, `±HH`, `±HHMM` or `±HH:MM` filling bytes [p, end) exactly, as ms east of UTC; NaN if not. */
function readOffset(b: Uint8Array, p: number, end: number): number {
  const zone = b[p];
  if (zone === 90 /* Z */ || zone === 122 /* z */) return p + 1 === end ? 0 : NaN;
  if (zone !== 43 /* + */ && zone !== 45 /* - */) return NaN;
  const length = end - p;
  if (length !== 3 && length !== 5 && length !== 6) return NaN;
  const offsetHour = digits2(b, p + 1);
  let offsetMinutes = 0;
  if (length === 6) offsetMinutes = b[p + 3] === 58 /* : */ ? digits2(b, p + 4) : -1;
  else if (length === 5) offsetMinutes = digits2(b, p + 3);
  if (offsetHour < 0 || offsetHour > 23 || offsetMinutes < 0 || offsetMinutes > 59) return NaN;
  const offset = (offsetHour * 60 + offsetMinutes) * 60_000;
  return zone === 43 /* + */ ? offset : -offset;
}

/**
 * An integer epoch in a unit 10^drop times finer than ms (3: µs, 6: ns), as ms floored: digits
 * only, optional sign, optional fraction. Floors in decimal, so 19-digit nanoseconds (past a
 * double's exact integers) still land on the right millisecond.
 */
function parseEpochFloor(b: Uint8Array, start: number, end: number, drop: number): number {
  let i = start;
  let negative = false;
  if (i < end && (b[i] === 45 /* - */ || b[i] === 43 /* + */)) {
    negative = b[i] === 45;
    i++;
  }
  let digitsEnd = i;
  while (digitsEnd < end && b[digitsEnd] >= 48 && b[digitsEnd] <= 57) digitsEnd++;
  if (digitsEnd === i) return NaN;
  let remainder = false;
  if (digitsEnd < end) {
    if (b[digitsEnd] !== 46 /* . */) return NaN;
    for (let j = digitsEnd + 1; j < end; j++) {
      const d = b[j] - 48;
      if (d < 0 || d > 9) return NaN;
      if (d !== 0) remainder = true;
    }
  }
  const headEnd = digitsEnd - drop;
  let ms = 0;
  for (let j = i; j < headEnd; j++) {
    ms = ms * 10 + (b[j] - 48);
    // Past Date's range anyway: stop before the integer loses exactness.
    if (ms > MAX_TIME_MS) return NaN;
  }
  for (let j = Math.max(i, headEnd); j < digitsEnd; j++) if (b[j] !== 48) remainder = true;
  return negative ? -ms - (remainder ? 1 : 0) : ms;
}

// ---- strftime-style patterns ----

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** Fields a pattern reads; -1: not read. */
interface Fields {
  year: number;
  month: number;
  day: number;
  dayOfYear: number;
  hour: number;
  hour12: number;
  pm: number;
  minute: number;
  second: number;
  ms: number;
  offset: number;
}

type Step = (b: Uint8Array, p: number, end: number, f: Fields) => number;

/** What each directive reads, as documented in README's datasets section (timeFormat). */
const DIRECTIVES: Record<string, { readonly field?: keyof Fields; readonly step: () => Step }> = {
  Y: { field: 'year', step: () => number(4, 4, (f, v) => (f.year = v)) },
  y: { field: 'year', step: () => number(2, 2, (f, v) => (f.year = v < 69 ? 2000 + v : 1900 + v)) },
  m: { field: 'month', step: () => number(1, 2, (f, v) => (f.month = v)) },
  d: { field: 'day', step: () => number(1, 2, (f, v) => (f.day = v)) },
  e: { field: 'day', step: () => spaces(number(1, 2, (f, v) => (f.day = v))) },
  j: { field: 'dayOfYear', step: () => number(1, 3, (f, v) => (f.dayOfYear = v)) },
  H: { field: 'hour', step: () => number(1, 2, (f, v) => (f.hour = v)) },
  I: { field: 'hour12', step: () => number(1, 2, (f, v) => (f.hour12 = v)) },
  M: { field: 'minute', step: () => number(1, 2, (f, v) => (f.minute = v)) },
  S: { field: 'second', step: () => number(1, 2, (f, v) => (f.second = v)) },
  f: { field: 'ms', step: () => fraction },
  p: { field: 'pm', step: () => meridiem },
  b: { field: 'month', step: () => name(MONTHS, true, (f, v) => (f.month = v + 1)) },
  h: { field: 'month', step: () => name(MONTHS, true, (f, v) => (f.month = v + 1)) },
  B: { field: 'month', step: () => name(MONTHS, false, (f, v) => (f.month = v + 1)) },
  // A weekday name is read and not checked against the date (as Python's strptime does).
  a: { step: () => name(WEEKDAYS, true, () => undefined) },
  A: { step: () => name(WEEKDAYS, false, () => undefined) },
  z: { field: 'offset', step: () => zoneOffset },
};
/** Shorthands, expanded before compiling. */
const SHORTHANDS: Record<string, string> = { F: '%Y-%m-%d', T: '%H:%M:%S', R: '%H:%M', D: '%m/%d/%y' };

/** The directives a pattern may hold, for messages and the README. */
export const TIME_DIRECTIVES = [...Object.keys(DIRECTIVES), ...Object.keys(SHORTHANDS), '%'].map((d) => `%${d}`);

/**
 * Checks a timeFormat pattern, returning its problem or undefined: every `%` a known directive, no
 * field read twice, a date (year with month and day, or day of year), `%I` with `%p` and not with
 * `%H`.
 */
export function timePatternProblem(pattern: string): string | undefined {
  try {
    compilePattern(pattern);
    return undefined;
  } catch (error) {
    if (error instanceof TimeFormatError) return error.message;
    throw error;
  }
}

/**
 * Compiles a pattern into a reader filling `parsed` (see readIso). Literal characters match
 * themselves exactly; numeric fields take 1 to their width in digits, greedily (so `%Y%m%d` reads
 * `20130101`), except `%Y` (4) and `%y` (2).
 */
function compilePattern(pattern: string): (b: Uint8Array, start: number, end: number) => boolean {
  const expanded = pattern.replace(/%([FTRD])/g, (_, d: string) => SHORTHANDS[d]);
  const steps: Step[] = [];
  const seen = new Set<keyof Fields>();
  for (let i = 0; i < expanded.length; i++) {
    const c = expanded[i];
    if (c === 'Z') {
      // A literal Z (`%Y%m%dT%H%M%SZ`) is the UTC designator: the time is UTC, whatever timeZone says.
      if (seen.has('offset')) throw new TimeFormatError(`${JSON.stringify(pattern)} reads the offset twice (%z and a literal Z)`);
      seen.add('offset');
      steps.push(utcDesignator);
      continue;
    }
    if (c !== '%') {
      steps.push(literal(Buffer.from(c, 'utf8')));
      continue;
    }
    const d = expanded[++i];
    if (d === undefined) throw new TimeFormatError(`${JSON.stringify(pattern)} ends with a lone "%"`);
    if (d === '%') {
      steps.push(literal(Buffer.from('%')));
      continue;
    }
    const directive = DIRECTIVES[d];
    if (directive === undefined) throw new TimeFormatError(`%${d} in ${JSON.stringify(pattern)} is not a supported directive (supported: ${TIME_DIRECTIVES.join(' ')})`);
    if (directive.field !== undefined) {
      const field = directive.field;
      if (seen.has(field)) throw new TimeFormatError(`${JSON.stringify(pattern)} reads the ${field === 'dayOfYear' ? 'day of year' : field} twice (%${d})`);
      seen.add(field);
    }
    steps.push(directive.step());
  }
  if (!seen.has('year') || !((seen.has('month') && seen.has('day')) || seen.has('dayOfYear'))) {
    throw new TimeFormatError(`${JSON.stringify(pattern)} does not read a whole date: it needs %Y or %y, and %m (or %b, %B) with %d, or %j`);
  }
  if (seen.has('dayOfYear') && (seen.has('month') || seen.has('day'))) throw new TimeFormatError(`${JSON.stringify(pattern)} reads both %j and a month or day`);
  if (seen.has('hour12') !== seen.has('pm')) throw new TimeFormatError(`${JSON.stringify(pattern)}: %I (12-hour clock) needs %p (AM/PM), and %p needs %I`);
  if (seen.has('hour12') && seen.has('hour')) throw new TimeFormatError(`${JSON.stringify(pattern)} reads both %H and %I`);

  const f: Fields = { year: -1, month: -1, day: -1, dayOfYear: -1, hour: -1, hour12: -1, pm: -1, minute: -1, second: -1, ms: -1, offset: NaN };
  return (b, start, end) => {
    f.month = f.day = f.dayOfYear = f.hour = f.hour12 = f.pm = f.minute = f.second = f.ms = -1;
    f.offset = NaN;
    let p = start;
    for (let s = 0; s < steps.length; s++) {
      p = steps[s](b, p, end, f);
      if (p < 0) return false;
    }
    if (p !== end) return false;
    let days: number;
    if (f.dayOfYear >= 0) {
      const leap = isLeap(f.year);
      if (f.dayOfYear < 1 || f.dayOfYear > (leap ? 366 : 365)) return false;
      days = daysFromCivil(f.year, 1, 1) + f.dayOfYear - 1;
    } else {
      if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > daysInMonth(f.year, f.month)) return false;
      days = daysFromCivil(f.year, f.month, f.day);
    }
    let hour = f.hour < 0 ? 0 : f.hour;
    if (f.hour12 >= 0) {
      if (f.hour12 < 1 || f.hour12 > 12) return false;
      hour = (f.hour12 % 12) + (f.pm === 1 ? 12 : 0);
    }
    const minute = f.minute < 0 ? 0 : f.minute;
    const second = f.second < 0 ? 0 : f.second;
    if (hour > 23 || minute > 59 || second > 59) return false;
    const local = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + (f.ms < 0 ? 0 : f.ms);
    parsed.hasOffset = f.offset === f.offset;
    parsed.local = parsed.hasOffset ? local - f.offset : local;
    return true;
  };
}

function literal(bytes: Buffer): Step {
  return (b, p, end) => {
    if (end - p < bytes.length) return -1;
    for (let i = 0; i < bytes.length; i++) if (b[p + i] !== bytes[i]) return -1;
    return p + bytes.length;
  };
}

function number(min: number, max: number, set: (f: Fields, v: number) => void): Step {
  return (b, p, end, f) => {
    let v = 0;
    let i = p;
    for (; i < end && i - p < max; i++) {
      const d = b[i] - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i - p < min) return -1;
    set(f, v);
    return i;
  };
}

/** `%e`: a day padded with a space (` 1`) or not. */
function spaces(step: Step): Step {
  return (b, p, end, f) => step(b, p < end && b[p] === 32 ? p + 1 : p, end, f);
}

/** `%f`: 1 to 9 fraction digits, truncated to milliseconds (see the file's comment). */
const fraction: Step = (b, p, end, f) => {
  let v = 0;
  let i = p;
  for (; i < end && i - p < 9; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) break;
    if (i - p < 3) v = v * 10 + d;
  }
  const n = i - p;
  if (n === 0) return -1;
  f.ms = n >= 3 ? v : n === 2 ? v * 10 : v * 100;
  return i;
};

/** A literal `Z` in a pattern: offset 0. */
const utcDesignator: Step = (b, p, end, f) => {
  if (p >= end || b[p] !== 90 /* Z */) return -1;
  f.offset = 0;
  return p + 1;
};

/** `%p`: AM or PM, any case. */
const meridiem: Step = (b, p, end, f) => {
  if (end - p < 2 || (b[p + 1] | 32) !== 109 /* m */) return -1;
  const c = b[p] | 32;
  if (c !== 97 /* a */ && c !== 112 /* p */) return -1;
  f.pm = c === 112 ? 1 : 0;
  return p + 2;
};

/** `%z`: `Z`, `±HH`, `±HHMM` or `±HH:MM` (the longest that fits). */
const zoneOffset: Step = (b, p, end, f) => {
  if (p >= end) return -1;
  if (b[p] === 90 || b[p] === 122) {
    f.offset = 0;
    return p + 1;
  }
  for (const length of [6, 5, 3]) {
    if (end - p < length) continue;
    const offset = readOffset(b, p, p + length);
    if (offset === offset) {
      f.offset = offset;
      return p + length;
    }
  }
  return -1;
};

/** An English month or weekday name, any case: in full, or its first three letters (`abbreviated`). */
function name(names: readonly string[], abbreviated: boolean, set: (f: Fields, v: number) => void): Step {
  const candidates = names.map((n) => Buffer.from(abbreviated ? n.slice(0, 3) : n));
  return (b, p, end, f) => {
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[k];
      if (end - p < c.length) continue;
      let i = 0;
      while (i < c.length && (b[p + i] | 32) === c[i]) i++;
      if (i === c.length) {
        set(f, k);
        return p + c.length;
      }
    }
    return -1;
  };
}

// ---- calendar ----

/** Two ASCII digits at i as a number, or -1. The caller has checked that i + 1 < end. */
function digits2(b: Uint8Array, i: number): number {
  const high = b[i] - 48 /* 0 */;
  const low = b[i + 1] - 48 /* 0 */;
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : -1;
}

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return isLeap(year) ? 29 : 28;
}

// Days since 1970-01-01 of a proleptic Gregorian date: Hinnant's days_from_civil, which (unlike
// Date.UTC) takes years 0-99 literally and costs a few integer operations.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const monthFromMarch = month > 2 ? month - 3 : month + 9;
  const dayOfYear = (((153 * monthFromMarch + 2) / 5) | 0) + day - 1;
  const dayOfEra = yearOfEra * 365 + ((yearOfEra / 4) | 0) - ((yearOfEra / 100) | 0) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

// ---- time zones ----

/** Whether `timeZone` is an IANA zone name this runtime knows (Intl's tz database). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

const HOUR_MS = 3_600_000;
// No zone is more than 14 hours from UTC (Pacific/Kiritimati +14, Etc/GMT+12 -12): an hour's wall
// times are instants within this much of it.
const MAX_OFFSET_MS = 15 * HOUR_MS;
const ZONE_CACHE_SLOTS = 4096;

/**
 * A function from a wall time in `timeZone` (as ms, read as if UTC) to the instant, resolving gaps
 * and repeats as createTimeParser documents. Intl costs microseconds a call, so each local hour is
 * looked up once (per cache slot): its offset when no transition lies within 15 hours of it, else
 * the transition (found by bisection to the second, as tzdb writes them) and the offsets on either
 * side. A zone changes its offset at most twice a year, so one transition per window is assumed.
 */
function createZone(timeZone: string): (local: number) => number {
  if (!isTimeZone(timeZone)) throw new TimeFormatError(`${JSON.stringify(timeZone)} is not an IANA time zone name (e.g. "Europe/Berlin")`);
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    era: 'short',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  /** The zone's offset (ms east of UTC) at instant t, a whole second. */
  const offsetAt = (t: number): number => {
    const fields: Record<string, string> = {};
    for (const part of format.formatToParts(new Date(t))) fields[part.type] = part.value;
    const year = fields.era === 'BC' ? 1 - Number(fields.year) : Number(fields.year);
    return daysFromCivil(year, Number(fields.month), Number(fields.day)) * 86_400_000 + Number(fields.hour) * HOUR_MS + Number(fields.minute) * 60_000 + Number(fields.second) * 1000 - t;
  };
  const hours = new Float64Array(ZONE_CACHE_SLOTS).fill(NaN);
  const before = new Float64Array(ZONE_CACHE_SLOTS);
  const after = new Float64Array(ZONE_CACHE_SLOTS);
  /** The first instant with the `after` offset; NaN when the hour has one offset. */
  const transition = new Float64Array(ZONE_CACHE_SLOTS);

  function lookUp(hour: number, slot: number): void {
    const from = hour * HOUR_MS - MAX_OFFSET_MS;
    const to = (hour + 1) * HOUR_MS + MAX_OFFSET_MS;
    const first = offsetAt(from);
    const last = offsetAt(to);
    hours[slot] = hour;
    before[slot] = first;
    after[slot] = last;
    if (first === last) {
      transition[slot] = NaN;
      return;
    }
    // offsetAt(low) is `first`, offsetAt(high) is not: bisect to the second where it changes.
    let low = from;
    let high = to;
    while (high - low > 1000) {
      const mid = low + Math.floor((high - low) / 2000) * 1000;
      if (offsetAt(mid) === first) low = mid;
      else high = mid;
    }
    transition[slot] = high;
  }

  return (local) => {
    const hour = Math.floor(local / HOUR_MS);
    const slot = ((hour % ZONE_CACHE_SLOTS) + ZONE_CACHE_SLOTS) % ZONE_CACHE_SLOTS;
    if (hours[slot] !== hour) lookUp(hour, slot);
    const at = transition[slot];
    if (at !== at) return local - before[slot];
    const early = local - before[slot];
    const late = local - after[slot];
    const earlyValid = early < at;
    const lateValid = late >= at;
    // Repeated (both readings valid): the later instant. Skipped (neither): the offset before the
    // transition, as Postgres and ICU read it.
    if (earlyValid && lateValid) return early > late ? early : late;
    return lateValid ? late : early;
  };
}
