/**
 * Record boundaries inside an object, found by reading a little of it (S3 Range GETs) instead of
 * all of it. B(at) = the first record start ≥ at, where p is a record start iff p = dataStart or
 * byte p−1 is a line end outside quotes. Below, `,`, `"` and LF stand for the dialect's delimiter,
 * quote and line end (CR in a file of CR-only line ends). B is a deterministic function of the object's bytes from at−1
 * on, so the two processors that compute the boundary between their ranges agree, and partitions
 * [B(s_i), B(e_i)) with e_i = s_(i+1) tile [dataStart, objectSize): every byte in exactly one.
 *
 * Guarantee: at ≤ B(at) ≤ at + 2·maxRecordBytes (or objectSize). So a planner whose cut points are
 * at least 2·maxRecordBytes apart gets strictly increasing boundaries whatever the bytes hold.
 */

import { RFC_4180, type CsvDialect } from '../parse/csv.ts';

/** Reads bytes [start, endExclusive) of the object, e.g. with an S3 Range GET. */
export type RangeRead = (start: number, endExclusive: number) => Promise<Uint8Array>;

export interface BoundaryOptions {
  readonly format: 'csv' | 'ndjson';
  readonly objectSize: number;
  /** Position of the first data record (after a CSV header; 0 or a BOM's length for NDJSON). */
  readonly dataStart: number;
  /** The longest valid record, line end included. */
  readonly maxRecordBytes: number;
  /**
   * Bytes of the first read; each further read is 4 times longer, so reaching maxRecordBytes (the
   * worst case of ordinary data: a CSV without quotes) takes few requests.
   * @default 65536
   */
  readonly windowBytes?: number;
  /**
   * CSV: the separator, quote and line end bytes (NDJSON lines end with LF). Its escape must be the
   * quote: an escaped quote does not flip quote parity, which these rules count on (lib/split
   * streams such objects into exact parts instead). @default RFC_4180
   */
  readonly dialect?: CsvDialect;
}

const LF = 10;
const CR = 13;
/** A run's neighbour that is the start or the end of the object: a member of S. */
const EDGE = -1;
/** The byte before the scanned bytes: unknown, so a run touching it proves nothing. */
const UNKNOWN = -2;

/**
 * The first record start ≥ at (see the file's comment). NDJSON: after the next LF, as JSON strings
 * cannot hold a raw one. CSV: after the first LF outside quotes, the quote state at `at` being
 * resolved as follows.
 *
 * Two hypotheses are followed from at−1, "outside quotes" and "inside", each flipping at every
 * quote. A maximal run of k quotes between bytes a and b, with S = {`,`, CR, LF, start, end}, is
 * valid from outside only if a ∈ S and (k odd or b ∈ S), and from inside only if k is even or
 * b ∈ S. A run (an anchor) that one hypothesis cannot explain and the other can rules the first
 * out; a run neither can explain is malformed data and ignored. The rules hold for any valid CSV,
 * so an anchor never rules out the truth.
 *
 * Two more rules hold for valid CSV. Record length: records are at most maxRecordBytes, so under
 * the true hypothesis a record ends (an LF outside quotes) within maxRecordBytes of at−1 and of
 * every record end after it; with no quote in maxRecordBytes, "inside" fails this and the state
 * is "outside". The end: valid CSV does not end inside quotes, so at the object's end only one
 * hypothesis remains. A rule is applied only if it leaves a hypothesis standing.
 *
 * Scanning stops as soon as one hypothesis is left and a record end under it is known; ordinary
 * data (a quoted field with text in most records) decides at its first such field, quote-free
 * data after maxRecordBytes. Ambiguous rule: if both hypotheses survive 2·maxRecordBytes, which
 * needs every quote run there to sit between separators (`""`, `","`, `"\n"`) and quoted line
 * breaks to give "inside" record ends often enough, "outside" is chosen, as a cut point is far more
 * often outside a quoted field than inside one. If that is wrong, the parser rejects the garbled
 * records; each byte still belongs to one partition.
 *
 * @example
 * const read = (start, end) => s3.getRange(bucket, key, start, end);
 * const start = await findRecordStart(read, 8 << 20, { format: 'csv', objectSize, dataStart, maxRecordBytes: 1 << 20 });
 */
export async function findRecordStart(read: RangeRead, at: number, options: BoundaryOptions): Promise<number> {
  const { objectSize, dataStart, maxRecordBytes } = options;
  if (at <= dataStart) return dataStart;
  if (at >= objectSize) return objectSize;
  const from = at - 1;
  // Scanning stops here: B ≤ at − 1 + 2·maxRecordBytes.
  const limit = Math.min(objectSize, from + 2 * maxRecordBytes);
  // Most boundaries are decided within maxRecordBytes (quote-free data always is): reads pause there.
  const decisionEnd = Math.min(objectSize, from + maxRecordBytes);
  const windows = readWindows(read, from, decisionEnd, limit, options.windowBytes ?? 65_536);
  return options.format === 'ndjson'
    ? nextLineStart(windows, limit, LF)
    : nextCsvRecordStart(windows, from, limit, options);
}

/**
 * Successive chunks of [from, limit): first windowBytes long, then 4 times longer each, none
 * crossing `pause` (where the CSV rules decide), as most boundaries need nothing past it.
 */
async function* readWindows(read: RangeRead, from: number, pause: number, limit: number, windowBytes: number) {
  let position = from;
  let size = Math.max(1, windowBytes);
  while (position < limit) {
    const end = Math.min(position < pause ? pause : limit, position + size);
    const bytes = await read(position, end);
    // A short (or empty) answer is read on from where it stopped; an empty one ends the object.
    if (bytes.length === 0) return;
    yield { position, bytes: bytes.length > end - position ? bytes.subarray(0, end - position) : bytes };
    position += Math.min(bytes.length, end - position);
    size *= 4;
  }
}

type Windows = AsyncGenerator<{ position: number; bytes: Uint8Array }>;

async function nextLineStart(windows: Windows, limit: number, lineEnd: number): Promise<number> {
  for await (const { position, bytes } of windows) {
    const lf = bytes.indexOf(lineEnd);
    if (lf >= 0) return position + lf + 1;
  }
  // No line end within 2·maxRecordBytes: the object's end, or a malformed, too long line, where
  // any cut is as good as another.
  return limit;
}

async function nextCsvRecordStart(windows: Windows, from: number, limit: number, options: BoundaryOptions): Promise<number> {
  const { objectSize, dataStart, maxRecordBytes } = options;
  const { delimiter, quote, lineEnd } = options.dialect ?? RFC_4180;
  // Hypothesis h (0: outside quotes before byte at−1, 1: inside) is outside at a byte iff the
  // number of quotes before it, from at−1, has parity h. Its record ends are the LFs outside.
  const alive = [true, true];
  const firstEnd = [-1, -1];
  // The record holding byte at−1 started at or before it, so it ends within maxRecordBytes of it.
  const lastEnd = [from - 1, from - 1];
  let parity = 0;
  let firstLf = -1;
  // The quote run in progress: its length, the parity before it, and the byte before it.
  let run = 0;
  let runParity = 0;
  let before = from === dataStart ? EDGE : UNKNOWN;
  let previous = before;

  // A CR may close a quoted field in an LF file (CRLF); in a CR file it is the line end itself.
  const isSeparator = (byte: number) => byte === delimiter || byte === lineEnd || byte === CR || byte === EDGE;

  /** Rules out the hypotheses failing a test, unless that would rule out both (malformed data). */
  function ruleOut(fails: (h: number) => boolean): void {
    const failing = [0, 1].map((h) => alive[h] && fails(h));
    const survivors = [0, 1].filter((h) => alive[h] && !failing[h]);
    if (survivors.length > 0) for (const h of [0, 1]) alive[h] &&= !failing[h];
  }

  /** A run of `run` quotes between `before` and `after` (the anchor rules). */
  function endRun(after: number): void {
    if (before === UNKNOWN) return;
    ruleOut((h) =>
      (h ^ runParity) === 0
        ? !(isSeparator(before) && (run % 2 === 1 || isSeparator(after)))
        : !(run % 2 === 0 || isSeparator(after)),
    );
  }

  /** The answer once one hypothesis is left and a record end under it is known, else -1. */
  function answer(): number {
    if (alive[0] === alive[1]) return -1;
    const h = alive[0] ? 0 : 1;
    return firstEnd[h] >= 0 ? firstEnd[h] + 1 : -1;
  }

  let position = from;
  for await (const { position: start, bytes } of windows) {
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      position = start + i;
      if (byte === quote) {
        if (run === 0) {
          runParity = parity;
          before = previous;
        }
        run++;
        parity ^= 1;
      } else {
        if (run > 0) {
          endRun(byte);
          run = 0;
        }
        if (byte === lineEnd) {
          if (firstLf < 0) firstLf = position;
          if (firstEnd[parity] < 0) firstEnd[parity] = position;
          lastEnd[parity] = position;
        }
      }
      previous = byte;
      if (position + 1 === objectSize) {
        if (run > 0) endRun(EDGE);
        run = 0;
        // Valid CSV does not end inside quotes.
        ruleOut((h) => (h ^ parity) !== 0);
      }
      // The record-length rule: no record end within maxRecordBytes.
      if (alive[0] && alive[1] && position - Math.min(lastEnd[0], lastEnd[1]) >= maxRecordBytes) {
        ruleOut((h) => position - lastEnd[h] >= maxRecordBytes && position + 1 < objectSize);
      }
      const found = answer();
      if (found >= 0) return found;
    }
  }
  // Both hypotheses fit every rule up to the limit: the ambiguous rule takes "outside".
  const h = alive[0] ? 0 : 1;
  if (firstEnd[h] >= 0) return firstEnd[h] + 1;
  // No record end under the survivor before the limit: the object's end, or (malformed data) the
  // first line end of any kind, else the limit.
  if (limit === objectSize) return objectSize;
  return firstLf >= 0 ? firstLf + 1 : limit;
}

/**
 * Where a partition's own records begin. B(at) is a record start when the byte before it is an LF
 * (or it is the data start or the object's end); otherwise B hit its 2·maxRecordBytes limit inside
 * one record longer than maxRecordBytes. That record starts in an earlier partition, which reads
 * it to this very point and rejects it as too long; the bytes from here to its line end belong to
 * it too, so this partition skips them instead of reading them as garbled records (one 5 MB line
 * would otherwise be a reject in every partition it crosses).
 *
 * @example
 * const start = await ownRecordsStart(read, await findRecordStart(read, rangeStart, options), end, options);
 */
export async function ownRecordsStart(read: RangeRead, start: number, end: number, options: BoundaryOptions): Promise<number> {
  if (start <= options.dataStart || start >= end || start >= options.objectSize) return start;
  const lineEnd = options.format === 'csv' ? (options.dialect ?? RFC_4180).lineEnd : LF;
  const [before] = await read(start - 1, start);
  if (before === lineEnd) return start;
  const windowBytes = options.windowBytes ?? 65_536;
  for (let from = start; from < end; from += windowBytes) {
    const bytes = await read(from, Math.min(end, from + windowBytes));
    const lf = bytes.indexOf(lineEnd);
    if (lf >= 0) return from + lf + 1;
  }
  return end;
}
