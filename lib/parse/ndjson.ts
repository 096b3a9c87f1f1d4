import { asBuffer } from './csv.ts';
import type { ReaderOptions, RecordReader } from './readerTypes.ts';
import { DEFAULT_VALUE_OPTIONS, type RecordLayout, type RecordSink } from './sink.ts';
import {
  END_TIME_MS,
  MAX_RECORD_DIMENSION_BYTES,
  MIN_TIME_MS,
  createNumberParser,
  createTimeParser,
  dimensionReason,
  epochToMs,
  isDecimalText,
  metricReason,
  parseText,
  rawText,
  recordDimensionsReason,
  showValue,
  timeRangeReason,
} from './values.ts';

/**
 * NDJSON records: one JSON object per line (LF or CRLF), blank lines skipped. Time is a string
 * (per timeFormat) or a number (epoch per timeFormat); dimensions are strings, numbers or booleans
 * (null, missing or a null value: ''); metrics are numbers or numeric strings (null, missing or a
 * null value: NaN). The non-standard tokens NaN, Infinity and -Infinity that Python's json.dumps
 * writes are read too, as invalid values (onInvalidValue decides).
 */

const LF = 10;
const CR = 13;
const BOM = [0xef, 0xbb, 0xbf] as const;
// A character is at most 4 bytes: enough for MAX_RAW_CHARS (1000) characters of a too long line.
const RAW_PREFIX_BYTES = 4000;
/**
 * The deepest nesting of arrays and objects a line may hold, as serde_json's default recursion
 * limit. JSON.parse itself copes with any depth, but JSON.stringify (showing a value in a reason)
 * overflowed the stack at 5,000 levels and failed the partition on every retry.
 */
export const MAX_NESTING_DEPTH = 128;

/**
 * A RecordReader for NDJSON (see createRecordReader). A line longer than maxRecordBytes is rejected
 * without being buffered; at the object's start (baseOffset 0) a UTF-8 BOM is skipped.
 */
export function createNdjsonReader(layout: RecordLayout, sink: RecordSink, options: ReaderOptions): RecordReader {
  const { timeColumn, timeFormat } = layout;
  const values = layout.values ?? DEFAULT_VALUE_OPTIONS;
  const parseTime = createTimeParser(timeFormat, values.timeZone);
  const parseNumber = createNumberParser(values);
  const nullValues = new Set(values.nullValues);
  const nullInvalid = values.onInvalidValue === 'null';
  const epochFormat = timeFormat === 'epoch_s' || timeFormat === 'epoch_ms' || timeFormat === 'epoch_us' || timeFormat === 'epoch_ns' ? timeFormat : undefined;
  const { maxRecordBytes } = options;
  const dimensionNames = layout.dimensions.map((d) => `field ${JSON.stringify(d)}`);
  const metricNames = layout.metrics.map((m) => `field ${JSON.stringify(m)}`);
  const dims: string[] = layout.dimensions.map(() => '');
  const metrics = new Float64Array(layout.metrics.length);
  const timeName = `field ${JSON.stringify(timeColumn)}`;
  const { minMs, endMs } = options.timeRange ?? { minMs: MIN_TIME_MS, endMs: END_TIME_MS };
  let accepted = 0;
  let rejected = 0;
  let lines = 0;
  let consumed = 0;
  // An unfinished line, or (spilled) the first bytes of one too long to keep.
  let carry = Buffer.alloc(0);
  let carryLength = 0;
  let spilled = false;
  let lineOffset = 0;
  /** The time of the line readRecord last read. */
  let timeMs = NaN;
  // Values nulled (onInvalidValue "null"), per column name; the line's own first, counted once it is accepted.
  const valuesNulled: Record<string, number> = {};
  const lineNulled: string[] = [];

  function reject(line: number, offset: number, reason: string, raw: string): void {
    rejected++;
    sink.reject({ line, offset: options.baseOffset + offset, reason, raw });
  }

  /** Handles one line, bytes [start, end) of `bytes` without its LF, starting at stream position `offset`. */
  function handleLine(bytes: Buffer, start: number, end: number, offset: number, size: number): void {
    const line = lines + 1;
    if (end > start && bytes[end - 1] === CR) end--;
    if (start === end) return;
    if (size > maxRecordBytes) return reject(line, offset, `record exceeds ${maxRecordBytes} bytes`, rawText(bytes, start, end));
    if (offset === 0 && options.baseOffset === 0 && BOM.every((b, i) => bytes[start + i] === b)) start += BOM.length;
    // Nesting d takes at least 2d bytes: shorter lines cannot pass the limit and are not scanned.
    if (end - start > 2 * MAX_NESTING_DEPTH && nestingExceeds(bytes, start, end, MAX_NESTING_DEPTH)) {
      return reject(line, offset, `record nests arrays or objects deeper than ${MAX_NESTING_DEPTH} levels`, rawText(bytes, start, end));
    }
    const text = bytes.toString('utf8', start, end);
    nonFiniteLine = false;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      // Python's json.dumps writes NaN and ±Infinity: read them (rare, so only after JSON.parse fails).
      value = parseWithNonFinite(text);
      if (value === undefined) return reject(line, offset, `invalid JSON: ${(error as Error).message}`, rawText(bytes, start, end));
    }
    lineNulled.length = 0;
    const reason = readRecord(value);
    if (reason !== undefined) return reject(line, offset, reason, rawText(bytes, start, end));
    accepted++;
    for (const name of lineNulled) valuesNulled[name] = (valuesNulled[name] ?? 0) + 1;
    sink.accept(timeMs, dims, metrics);
  }

  /** Sets timeMs, dims and metrics from a parsed line; returns why it cannot, if it cannot. */
  function readRecord(value: unknown): string | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return `expected a JSON object, found ${show(value)}`;
    }
    const record = value as Record<string, unknown>;
    const time = field(record, timeColumn);
    if (time === undefined || time === null || (typeof time === 'string' && nullValues.has(time))) {
      return `missing time: ${timeName} is ${time === undefined ? 'missing' : time === null ? 'null' : time === '' ? 'empty' : `${show(time)}, a null value`}`;
    }
    timeMs = NaN;
    if (typeof time === 'string' && !isNonFinite(time)) timeMs = parseText(time, parseTime);
    else if (typeof time === 'number' && epochFormat !== undefined) timeMs = epochToMs(time, epochFormat);
    if (timeMs !== timeMs) return `${timeName}: ${show(time)} is not a valid ${timeFormat} timestamp`;
    if (timeMs < minMs || timeMs >= endMs) return timeRangeReason(timeName, show(time), timeMs, { minMs, endMs });

    for (let m = 0; m < metrics.length; m++) {
      const v = field(record, layout.metrics[m]);
      if (v === undefined || v === null || (typeof v === 'string' && nullValues.has(v))) {
        metrics[m] = NaN;
        continue;
      }
      // JSON.parse reads 1e400 as Infinity: beyond the bound like any number past ±1e135.
      const metric = typeof v === 'number' ? v : typeof v === 'string' && !isNonFinite(v) ? parseText(v, parseNumber) : NaN;
      if (!(metric >= -1e135 && metric <= 1e135)) {
        if (nullInvalid) {
          metrics[m] = NaN;
          lineNulled.push(layout.metrics[m]);
          continue;
        }
        if (isNonFinite(v)) return `${metricNames[m]}: ${show(v)} is not a finite number`;
        return metricReason(metricNames[m], show(v), metric, typeof v === 'string' && isDecimalText(v));
      }
      metrics[m] = metric;
    }
    let dimensionBytes = 0;
    for (let d = 0; d < dims.length; d++) {
      const v = field(record, layout.dimensions[d]);
      let value = '';
      let problem: string | undefined;
      if (isNonFinite(v)) problem = `${dimensionNames[d]}: ${show(v)} is not a dimension value (not a finite number)`;
      else if (typeof v === 'string') value = nullValues.has(v) ? '' : v;
      else if (typeof v === 'number' || typeof v === 'boolean') value = String(v);
      else if (v === undefined || v === null) value = '';
      else problem = `${dimensionNames[d]}: ${show(v)} is not a dimension value (expected a string, number or boolean)`;
      // A UTF-16 unit is at most 3 UTF-8 bytes: short values need no byte count, 3 per unit bounds them.
      const short = problem === undefined && value.length * 3 <= 1024; /* MAX_DIMENSION_BYTES */
      const byteLength = problem !== undefined ? 0 : short ? value.length : Buffer.byteLength(value);
      problem ??= dimensionReason(dimensionNames[d], value, byteLength);
      if (problem !== undefined) {
        if (!nullInvalid) return problem;
        dims[d] = '';
        lineNulled.push(layout.dimensions[d]);
        continue;
      }
      dimensionBytes += short ? 3 * value.length : byteLength;
      if (dimensionBytes > MAX_RECORD_DIMENSION_BYTES) {
        const exact = dims.slice(0, d).reduce((sum, x) => sum + Buffer.byteLength(x), Buffer.byteLength(value));
        if (exact > MAX_RECORD_DIMENSION_BYTES) return recordDimensionsReason(dimensionNames[d], exact);
        dimensionBytes = exact;
      }
      dims[d] = value;
    }
    return undefined;
  }

  /** Keeps bytes of the unfinished line; once it is too long, only its first RAW_PREFIX_BYTES. */
  function append(bytes: Buffer, start: number, end: number): void {
    if (!spilled && carryLength + end - start > maxRecordBytes) {
      spilled = true;
      carryLength = Math.min(carryLength, RAW_PREFIX_BYTES);
    }
    if (spilled) end = Math.min(end, start + RAW_PREFIX_BYTES - carryLength);
    if (end <= start) return;
    const needed = carryLength + end - start;
    if (carry.length < needed) {
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * carry.length, 1024));
      carry.copy(grown, 0, 0, carryLength);
      carry = grown;
    }
    bytes.copy(carry, carryLength, start, end);
    carryLength = needed;
  }

  /** Ends the carried line at stream position `next` (after its LF, or the end). */
  function finishCarried(next: number): void {
    const size = next - lineOffset;
    if (spilled) {
      const raw = rawText(carry, 0, carryLength);
      reject(lines + 1, lineOffset, `record exceeds ${maxRecordBytes} bytes`, raw);
    } else {
      handleLine(carry, 0, carryLength, lineOffset, size);
    }
    carryLength = 0;
    spilled = false;
  }

  return {
    push(chunk) {
      const data = asBuffer(chunk);
      const base = consumed;
      consumed += data.length;
      let from = 0;
      if (carryLength > 0 || spilled) {
        const lf = data.indexOf(LF);
        if (lf < 0) {
          append(data, 0, data.length);
          return;
        }
        append(data, 0, lf);
        finishCarried(base + lf + 1);
        lines++;
        from = lf + 1;
      }
      for (let lf = data.indexOf(LF, from); lf >= 0; lf = data.indexOf(LF, from)) {
        handleLine(data, from, lf, base + from, lf + 1 - from);
        lines++;
        from = lf + 1;
      }
      if (from < data.length) {
        lineOffset = base + from;
        append(data, from, data.length);
      }
    },
    end() {
      if (carryLength > 0 || spilled) finishCarried(consumed);
      const stats = { records: accepted + rejected, rejected, lines, bytes: consumed };
      return Object.keys(valuesNulled).length > 0 ? { ...stats, valuesNulled: { ...valuesNulled } } : stats;
    },
  };
}

/**
 * Whether bytes [start, end) of a JSON text nest arrays or objects deeper than `max`: brackets
 * outside strings counted, strings skipped with their escapes. Malformed JSON is left to JSON.parse.
 */
export function nestingExceeds(bytes: Uint8Array, start: number, end: number, max: number): boolean {
  let depth = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c === 34 /* " */) {
      for (i++; i < end && bytes[i] !== 34; i++) if (bytes[i] === 92 /* \ */) i++;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true;
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--;
    }
  }
  return false;
}

// A non-finite token stands in the parsed value as a string no JSON text of a line that parsed
// could hold: the marker is only looked for in lines parseWithNonFinite read.
const NON_FINITE_MARK = '\u0000batchflow-non-finite:';
let nonFiniteLine = false;

/**
 * A line holding NaN, Infinity or -Infinity outside strings, parsed with each token as a marker
 * string (isNonFinite); undefined when it is still not JSON.
 */
function parseWithNonFinite(text: string): unknown {
  let out = '';
  let from = 0;
  let found = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92 /* \ */) i++;
      continue;
    }
    for (const token of ['-Infinity', 'Infinity', 'NaN']) {
      if (!text.startsWith(token, i)) continue;
      out += text.slice(from, i) + JSON.stringify(NON_FINITE_MARK + token);
      i += token.length - 1;
      from = i + 1;
      found = true;
      break;
    }
  }
  if (!found) return undefined;
  try {
    const value = JSON.parse(out + text.slice(from));
    nonFiniteLine = true;
    return value;
  } catch {
    return undefined;
  }
}

/** Whether a parsed value is a NaN/Infinity/-Infinity token (see parseWithNonFinite). */
function isNonFinite(value: unknown): value is string {
  return nonFiniteLine && typeof value === 'string' && value.startsWith(NON_FINITE_MARK);
}

/** An own property: `constructor` or `toString` in a record must not come from Object.prototype. */
function field(record: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/** A JSON value as a reason quotes it, cut like showValue. */
function show(value: unknown): string {
  if (isNonFinite(value)) return value.slice(NON_FINITE_MARK.length);
  if (typeof value === 'string') return showValue(value);
  // JSON.stringify would write a non-finite number (1e400 parses to Infinity) as null.
  const text = value === undefined || typeof value === 'number' ? String(value) : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
