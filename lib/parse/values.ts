import { parseDecimal } from './numbers.ts';
import { MAX_RAW_CHARS } from './sink.ts';
import { createTimeParser, type TimeFormat, type TimeParser } from './time.ts';

/**
 * Field values parsed straight from bytes: numbers, timestamps and dimension strings. The hot path
 * of the processor runs through here once per field, so nothing below creates a string unless it
 * must: a failure is NaN, not an exception or a message. Numbers live in numbers.ts, times in
 * time.ts; both are re-exported here.
 */

export { createNumberParser, parseDecimal, type NumberNotation, type NumberParser } from './numbers.ts';
export { createTimeParser, parseIsoUtc, type TimeFormat, type TimeParser } from './time.ts';

const MAX_TIME_MS = 8.64e15;

// One parser per format, in UTC: parseTimestamp's callers name the format per call.
const utcParsers = new Map<TimeFormat, TimeParser>();

/**
 * A timestamp in bytes [start, end) as epoch milliseconds, or NaN when it is not valid in `format`
 * (see time.ts), a time without an offset read as UTC. A reader parses with createTimeParser,
 * which also takes the dataset's timeZone.
 *
 * @example
 * parseTimestamp(Buffer.from('2024-01-16T09:59:11.242Z'), 0, 24, 'iso'); // → 1705399151242
 */
export function parseTimestamp(bytes: Uint8Array, start: number, end: number, format: TimeFormat): number {
  let parser = utcParsers.get(format);
  if (parser === undefined) utcParsers.set(format, (parser = createTimeParser(format)));
  return parser(bytes, start, end);
}

/**
 * An epoch number (e.g. from JSON) as epoch ms, or NaN outside Date's range. Fractional seconds are
 * scaled in decimal, as parseTimestamp scales their text: 1700000000.123 → 1700000000123 exactly.
 * Micro- and nanoseconds are floored to the millisecond; a JSON number holds them only to a
 * double's precision (2^53: nanoseconds of 2024 to about 256 ns), so write them as strings to keep
 * every digit.
 */
export function epochToMs(value: number, format: 'epoch_s' | 'epoch_ms' | 'epoch_us' | 'epoch_ns'): number {
  const ms =
    format === 'epoch_ms'
      ? value
      : format === 'epoch_us'
        ? Math.floor(value / 1000)
        : format === 'epoch_ns'
          ? Math.floor(value / 1e6)
          : Number.isInteger(value)
            ? value * 1000
            : parseDecimalText(String(value), 3);
  return ms >= -MAX_TIME_MS && ms <= MAX_TIME_MS ? ms : NaN;
}

/** parseDecimal of a string (e.g. a JSON string value); NaN when it is not a finite decimal number. */
export function parseDecimalText(text: string, shift = 0): number {
  const bytes = encode(text);
  return parseDecimal(bytes, 0, encodedLength, shift);
}

/** parseTimestamp of a string (e.g. a JSON string value); NaN when it is not valid in `format`. */
export function parseTimestampText(text: string, format: TimeFormat): number {
  const bytes = encode(text);
  return parseTimestamp(bytes, 0, encodedLength, format);
}

/** A byte parser (NumberParser, TimeParser) applied to a string, e.g. a JSON string value. */
export function parseText(text: string, parser: (bytes: Uint8Array, start: number, end: number) => number): number {
  const bytes = encode(text);
  return parser(bytes, 0, encodedLength);
}

// UTF-8 needs at most 3 bytes per UTF-16 unit; non-ASCII bytes then fail every grammar above.
const scratch = Buffer.alloc(3 * 256);
let encodedLength = 0;

/** Text as UTF-8 (length in encodedLength): in `scratch` when short, as numbers and times are. */
function encode(text: string): Buffer {
  if (text.length > 256) {
    const bytes = Buffer.from(text, 'utf8');
    encodedLength = bytes.length;
    return bytes;
  }
  encodedLength = scratch.write(text, 0, 'utf8');
  return scratch;
}

/**
 * Decodes dimension values, remembering recent short ones so a repeated value costs no allocation;
 * undefined for a value that cannot be stored (see storableDimension).
 */
export type DimensionDecoder = (bytes: Buffer, start: number, end: number) => string | undefined;

const CACHE_SLOTS = 4096;
const CACHE_KEY_BYTES = 32;

/**
 * A DimensionDecoder with a fixed-size cache (4096 values of up to 32 bytes, ~140 KiB): dimension
 * values repeat (regions, products), and Buffer#toString costs far more than hashing a few bytes.
 * A colliding value overwrites the slot, so memory stays flat whatever the cardinality.
 */
export function createDimensionDecoder(): DimensionDecoder {
  const keys = new Uint8Array(CACHE_SLOTS * CACHE_KEY_BYTES);
  const lengths = new Int32Array(CACHE_SLOTS).fill(-1);
  const values: string[] = new Array<string>(CACHE_SLOTS).fill('');
  return (bytes, start, end) => {
    const length = end - start;
    if (length === 0) return '';
    if (length > 32 /* CACHE_KEY_BYTES */) {
      if (length > MAX_DIMENSION_BYTES) return undefined;
      const value = bytes.toString('utf8', start, end);
      return value.includes('\u0000') ? undefined : value;
    }
    let hash = 0x811c9dc5;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
    const slot = (hash ^ (hash >>> 15)) & 4095; /* CACHE_SLOTS - 1 */
    const key = slot * 32; /* CACHE_KEY_BYTES */
    if (lengths[slot] === length) {
      let i = 0;
      while (i < length && keys[key + i] === bytes[start + i]) i++;
      if (i === length) return values[slot];
    }
    const value = bytes.toString('utf8', start, end);
    // Checked on a miss only: a cached value was checked when it was stored.
    if (value.includes('\u0000')) return undefined;
    keys.set(bytes.subarray(start, end), key);
    lengths[slot] = length;
    values[slot] = value;
    return value;
  };
}

// ---- What Postgres and the aggregates can hold (README "Limits of a record") ----

/**
 * Bytes (UTF-8) of one dimension value. Dimension values are part of the rollups' primary key,
 * and a btree index row holds at most 2,704 bytes on 8 KiB pages ("index row size … exceeds btree
 * version 4 maximum 2704", https://www.postgresql.org/docs/current/btree.html#BTREE-IMPLEMENTATION);
 * a 2.7 KB value failed the whole partition's merge on every retry.
 */
export const MAX_DIMENSION_BYTES = 1024;
/**
 * Bytes of all of a record's dimension values together: a rollup's key holds up to all of them,
 * and 2,704 − 2,048 leaves 656 bytes for the key's other columns (dataset ≤ 63 bytes, the rollup's
 * dimension names, the bucket's 8, the metric's name, the array and tuple headers).
 */
export const MAX_RECORD_DIMENSION_BYTES = 2048;

/**
 * The largest |metric value| accepted. A cell's count is a bigint, so n ≤ N = 2^63 ≈ 9.22e18
 * records, all partitions together. With |x| ≤ B: |sum| ≤ N·B; M2 = Σ(x − mean)² ≤ N·B²; and
 * Chan's merge (lib/store/rollups.ts) computes (mean_b − mean_a)² · n_a · n_b before dividing by
 * n_a + n_b, at most (2B)² · (N/2)² = B²·N². Finite needs B²·N² < 1.797e308 (the largest double),
 * i.e. B·N < 1.34e154, B < 1.45e135. B = 1e135 gives B²·N² = 8.5e307. Before this bound two values
 * of ±1e155 in one cell made M2 Infinity (written as null: a NOT NULL violation) on every retry.
 */
export const MAX_METRIC_MAGNITUDE = 1e135;

/** 0001-01-01T00:00:00Z: Postgres has no year 0 and reads no ISO year below 0001. */
export const MIN_TIME_MS = -62_135_596_800_000;
/** 10000-01-01T00:00:00Z (exclusive): Date#toISOString writes later years as `+010000`, which Postgres refuses. */
export const END_TIME_MS = 253_402_300_800_000;

/**
 * The times a dataset with buckets of `granularityMs` accepts, [min, end): every bucket's start and
 * end inside years 0001–9999, so no bucket edge Postgres receives (rollups, the partition's data
 * range) is out of its ISO range. A bucket ending at 10000-01-01 is excluded too: its end would be
 * written `+010000-01-01T00:00:00.000Z` ("time zone displacement out of range"). Buckets align to
 * `originMs` (BUCKET_ORIGIN_MS).
 */
export function timeRange(granularityMs: number, originMs: number): { readonly minMs: number; readonly endMs: number } {
  const floor = (t: number) => t - (((t - originMs) % granularityMs) + granularityMs) % granularityMs;
  const firstStart = floor(MIN_TIME_MS);
  const lastEnd = floor(END_TIME_MS);
  return {
    minMs: firstStart < MIN_TIME_MS ? firstStart + granularityMs : firstStart,
    endMs: lastEnd === END_TIME_MS ? lastEnd - granularityMs : lastEnd,
  };
}

/** Why a time value in range of the parser is not accepted, for a reject's reason. */
export function timeRangeReason(field: string, shown: string, timeMs: number, range: { readonly minMs: number; readonly endMs: number }): string {
  const iso = (ms: number) => new Date(ms).toISOString().replace(/^\+0/, '');
  const bounds = `${iso(range.minMs)} to ${iso(range.endMs)} (exclusive)`;
  const outside = timeMs < MIN_TIME_MS || timeMs >= END_TIME_MS ? 'is outside years 0001–9999' : "is in a bucket outside years 0001–9999";
  return `${field}: ${shown} ${outside}: times from ${bounds} are accepted`;
}

/** A metric value's problem: not a number at all, or a number beyond ±MAX_METRIC_MAGNITUDE. */
export function metricReason(field: string, shown: string, value: number, isNumberText: boolean): string {
  return isNumberText || (typeof value === 'number' && value === value)
    ? `${field}: ${shown} is beyond the magnitude bound ±1e135 (so that no sum or variance overflows)`
    : `${field}: ${shown} is not a number`;
}

/** Whether text is a decimal number as parseDecimal's grammar reads it (finite or not). */
export function isDecimalText(text: string): boolean {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text);
}

/**
 * Why a dimension value cannot be stored, or undefined when it can. NUL: Postgres text cannot
 * hold U+0000 and jsonb refuses `\u0000`; a lone surrogate (NDJSON `"\ud800"`) is refused by jsonb
 * ("Unicode low surrogate must follow a high surrogate"); the dimension values travel to the merge
 * as jsonb (lib/store/rollups.ts). Such records are rejected, not repaired: replacing the
 * character would merge distinct values into one silently.
 */
export function dimensionReason(field: string, value: string, byteLength: number): string | undefined {
  if (value.includes('\u0000')) return `${field}: ${showValue(value)} contains NUL (U+0000), which Postgres text cannot hold`;
  if (!isWellFormed(value)) return `${field}: ${showValue(value)} contains a lone UTF-16 surrogate, which is not Unicode text`;
  if (byteLength > MAX_DIMENSION_BYTES) return `${field}: value of ${byteLength} bytes exceeds ${MAX_DIMENSION_BYTES} bytes (Postgres index row limit)`;
  return undefined;
}

/** The reason for a record whose dimension values together pass MAX_RECORD_DIMENSION_BYTES, named at `field`. */
export function recordDimensionsReason(field: string, total: number): string {
  return `${field}: dimension values reach ${total} bytes; a record's dimension values may take at most ${MAX_RECORD_DIMENSION_BYTES} (Postgres index row limit)`;
}

/** Whether a string is well-formed UTF-16 (String#isWellFormed, Node 20; not yet in TypeScript's ES2023 lib). */
export function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Text Postgres can store in a text column: NUL written as `\0`, lone surrogates as U+FFFD (which
 * postgres.js's UTF-8 encoding would do silently), cut to `max` characters. For reject reasons
 * and raw text: a JSON.parse message quotes the raw NUL it stopped at.
 */
export function storableText(text: string, max: number): string {
  let out = text.includes('\u0000') ? text.replaceAll('\u0000', '\\0') : text;
  if (!isWellFormed(out)) out = (out as unknown as { toWellFormed(): string }).toWellFormed();
  return truncate(out, max);
}

/** A record's raw text for a RejectedRecord: UTF-8 of bytes [start, end), cut to MAX_RAW_CHARS. */
export function rawText(bytes: Buffer, start: number, end: number): string {
  // A character is at most 4 bytes, so this many bytes always hold MAX_RAW_CHARS characters.
  const text = bytes.toString('utf8', start, Math.min(end, start + 4 * MAX_RAW_CHARS));
  return truncate(text, MAX_RAW_CHARS);
}

const MAX_SHOWN_CHARS = 200;

/** A field value as a reject reason quotes it: JSON-quoted, cut to 200 characters. */
export function showValue(text: string): string {
  return JSON.stringify(text.length > MAX_SHOWN_CHARS ? `${truncate(text, MAX_SHOWN_CHARS)}…` : text);
}

/** The first `max` UTF-16 units of text, without a dangling half of a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}


/** Whether bytes [start, end) are one of a dataset's null values; undefined when `""` is the only one. */
export type NullMatcher = (bytes: Uint8Array, start: number, end: number) => boolean;

/**
 * The matcher of a dataset's non-empty null values (an empty field is tested apart, by its
 * length: the common case costs nothing). A value matches when all its bytes are a null value's.
 *
 * @example
 * createNullMatcher(['', 'NA'])!(Buffer.from('NA'), 0, 2); // → true
 */
export function createNullMatcher(nullValues: readonly string[]): NullMatcher | undefined {
  const tokens = nullValues.filter((v) => v !== '').map((v) => Buffer.from(v, 'utf8'));
  if (tokens.length === 0) return undefined;
  return (bytes, start, end) => {
    const length = end - start;
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t];
      if (token.length !== length) continue;
      let i = 0;
      while (i < length && bytes[start + i] === token[i]) i++;
      if (i === length) return true;
    }
    return false;
  };
}
