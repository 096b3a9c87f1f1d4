/**
 * A streaming, byte-level RFC 4180 scanner: push chunks of bytes, get each record's field positions.
 * Fields are separated by `,`, records by LF or CRLF; a quoted field may hold `,`, CR, LF and `""`
 * (one quote). Spaces are data. Blank lines are skipped but still counted as lines. Malformed input
 * never throws: the record is reported with a CsvProblem and scanning resumes at its end.
 *
 * The dialect (CsvDialect) replaces `,` and `"` by any other byte, and LF by CR for files whose
 * records end with CR alone (there a LF is data, as a lone CR is data in an LF file). Everything
 * below holds for any dialect with "line end" meaning its byte. An escape other than the quote
 * (a backslash) makes the byte after it data inside a quoted field (`"a\"b"` is `a"b`, `\\` is
 * `\`, as csv-parse and Python's escapechar read it); outside quotes it is data itself, and a
 * doubled quote is then no escape.
 *
 * Between chunks only the unfinished record's bytes are kept, and only up to maxRecordBytes: a longer
 * record is followed to its end without its bytes (just its first ones, for the reject's raw text).
 *
 * A quoted field bounds its record like any other: when a quoted field is still open as its
 * record passes maxRecordBytes, or as the input ends, the record (`openQuote`) ends at the first
 * line end after the field's opening quote and scanning resumes there. That is the record start
 * lib/process/boundary.ts finds for a cut just after such a quote when the following bytes hold no
 * quote, or quoted fields with text, within maxRecordBytes (a run of text after `"` rules out
 * "inside"); so a stray quote (`…,"oops⏎`) costs one record, never the rest of a partition.
 */

/** What is wrong with a record; the scanner reports the first problem, `none` for a good record. */
export const CsvProblem = {
  none: 0,
  /** A `"` inside an unquoted field, e.g. `ab"c`. */
  strayQuote: 1,
  /** A closing quote followed by something other than `,`, CR, LF or the end, e.g. `"ab"c`. */
  textAfterQuote: 2,
  /** The input ended inside a quoted field. */
  unterminated: 3,
  /** The record, line end included, is longer than maxRecordBytes. */
  tooLong: 4,
  /**
   * A quoted field still open when its record passed maxRecordBytes or the input ended: the record
   * ends at the first line end after the opening quote.
   */
  openQuote: 5,
} as const;
export type CsvProblem = (typeof CsvProblem)[keyof typeof CsvProblem];

/** Line end bytes: LF (which also ends CRLF records) or CR alone. */
export type LineEnd = 10 | 13;

/** The bytes that structure a CSV file: separator, quote, line end, and the escape inside quotes. */
export interface CsvDialect {
  readonly delimiter: number;
  readonly quote: number;
  readonly lineEnd: LineEnd;
  /** @default the quote: a doubled quote stands for one */
  readonly escape?: number;
}

/**
 * The value of a `quotedEscaped` field from its text: a doubled quote read as one, or with another
 * escape each escape dropped and the character after it kept.
 */
export function unescaper(dialect: CsvDialect): (text: string) => string {
  const quote = String.fromCharCode(dialect.quote);
  if (dialect.escape === undefined || dialect.escape === dialect.quote) {
    const doubled = quote + quote;
    return (text) => text.replaceAll(doubled, quote);
  }
  const escape = String.fromCharCode(dialect.escape);
  return (text) => {
    let value = '';
    for (let i = 0; i < text.length; i++) {
      if (text[i] === escape && i + 1 < text.length) i++;
      value += text[i];
    }
    return value;
  };
}

/** RFC 4180: `,`, `"`, LF or CRLF. */
export const RFC_4180: CsvDialect = { delimiter: 44, quote: 34, lineEnd: 10 };

/** How a field was written: `quotedEscaped` fields hold escapes (`""` pairs that stand for one quote, or the dialect's escape). */
export const FieldQuoting = { unquoted: 0, quoted: 1, quotedEscaped: 2 } as const;
export type FieldQuoting = (typeof FieldQuoting)[keyof typeof FieldQuoting];

/** One record, as handed to the scanner's callback. The object and its arrays are reused. */
export interface CsvRecord {
  /** Holds the record at [start, end), line end excluded; for a tooLong record only its first bytes. */
  bytes: Buffer;
  start: number;
  end: number;
  /** Position of the record's first byte in the pushed stream (0 = first byte pushed). */
  offset: number;
  /** Bytes from the record's start to the next record's start (its line end included). */
  size: number;
  /** Physical line (1-based) the record starts on. */
  line: number;
  /** Fields found; only the first `storedFields` have positions. */
  fieldCount: number;
  /** Field i is bytes [starts[i], ends[i]) of `bytes`: a quoted field without its quotes. */
  starts: Int32Array;
  ends: Int32Array;
  /** FieldQuoting of each stored field. */
  quoting: Uint8Array;
  problem: CsvProblem;
  /** The field the problem is in (strayQuote, textAfterQuote, unterminated, openQuote). */
  problemField: number;
}

export interface CsvScannerOptions {
  /** How many fields per record to keep positions for (Infinity: all); more are only counted. */
  readonly storedFields: number;
  /** The longest record (line end included) whose bytes are kept; a longer one is `tooLong`. */
  readonly maxRecordBytes: number;
  /**
   * Past this many bytes of its record, an open quoted field ends the record (`openQuote`, see the
   * file's comment). Default maxRecordBytes; Infinity to follow quotes to the end of the input
   * (the gzip part cutter, which keeps no bytes to resume from).
   */
  readonly openQuoteLimit?: number;
  /** @default RFC_4180 */
  readonly dialect?: CsvDialect;
}

export interface CsvScanner {
  /** Scans a chunk, calling back for every record it completes. */
  push(chunk: Uint8Array): void;
  /** Ends the input, calling back for a last record without a line end. */
  end(): void;
  /** Line ends (the dialect's line end bytes) consumed so far, quoted ones included. */
  readonly lines: number;
  /** Bytes pushed so far. */
  readonly bytes: number;
  /** Stream position of the record in progress (blank lines before it skipped); `bytes` when there is none. */
  readonly recordOffset: number;
}

const CR = 13;

const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** Just after a quote inside a quoted field: an escape (`""`) or the closing quote. */
const QUOTE_SEEN = 3;
/** After a closing quote and a CR: only LF may follow. */
const CLOSED_CR = 4;
/** Just after an escape (not the quote) inside a quoted field: the next byte is data. */
const ESCAPED = 5;

// A character is at most 4 bytes: this many keep MAX_RAW_CHARS (1000) characters of a tooLong record.
const RAW_PREFIX_BYTES = 4000;
const EMPTY: Buffer = Buffer.alloc(0);

/** Wraps a Uint8Array as a Buffer without copying. */
export function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Creates a scanner that calls `onRecord` for every record (blank lines excepted), good or not.
 *
 * @example
 * const scanner = createCsvScanner({ storedFields: 2, maxRecordBytes: 1 << 20 }, (r) =>
 *   console.log(r.bytes.toString('utf8', r.starts[1], r.ends[1])));
 * scanner.push(Buffer.from('a,"b,c"\r\nd,'));
 * scanner.push(Buffer.from('e\n')); // logs "b,c", then "e"
 * scanner.end();
 */
export function createCsvScanner(options: CsvScannerOptions, onRecord: (record: CsvRecord) => void): CsvScanner {
  const { maxRecordBytes } = options;
  const { delimiter, quote, lineEnd } = options.dialect ?? RFC_4180;
  // -1 (no byte) when the quote doubled is the escape, the default.
  const escape = options.dialect?.escape === undefined || options.dialect.escape === quote ? -1 : options.dialect.escape;
  // In an LF file a CR before the line end is part of it (CRLF); in a CR file there is no such pair.
  const crlf = lineEnd === 10;
  const openQuoteLimit = options.openQuoteLimit ?? maxRecordBytes;
  // A spilled record is longer than maxRecordBytes: past openQuoteLimit too, unless that is larger.
  const cutWhenSpilled = openQuoteLimit <= maxRecordBytes;
  const growable = !Number.isFinite(options.storedFields);
  let capacity = growable ? 16 : options.storedFields;
  let starts: Int32Array = new Int32Array(capacity);
  let ends: Int32Array = new Int32Array(capacity);
  let quoting: Uint8Array = new Uint8Array(capacity);
  const record: CsvRecord = {
    bytes: EMPTY,
    start: 0,
    end: 0,
    offset: 0,
    size: 0,
    line: 1,
    fieldCount: 0,
    starts,
    ends,
    quoting,
    problem: CsvProblem.none,
    problemField: 0,
  };

  // The bytes being scanned: a pushed chunk, or `carry` holding an unfinished record and its sequel.
  let buf = EMPTY;
  let bufLength = 0;
  /** Stream position of buf[0]. */
  let bufBase = 0;
  let carry = EMPTY;
  let carryLength = 0;
  let consumed = 0;
  let lines = 0;

  let state = FIELD_START;
  let recordStart = 0;
  let recordLine = 1;
  let fieldStart = 0;
  let fieldCount = 0;
  let escaped = 0;
  let problem: CsvProblem = CsvProblem.none;
  let problemField = 0;
  /** The record in progress is longer than maxRecordBytes: only its state is followed. */
  let spilled = false;
  let spillOffset = 0;
  /** The first RAW_PREFIX_BYTES bytes from the spilled record's start (maybe past its end). */
  const spillPrefix = Buffer.alloc(RAW_PREFIX_BYTES);
  let spillLength = 0;
  /** The first LF after the open quoted field's opening quote (a buf position, -1: none yet) and `lines` after it. */
  let quotedLf = -1;
  let quotedLfLines = 0;

  /** Doubles the field arrays (header scanning keeps every field). */
  function grow(): [number, Int32Array, Int32Array, Uint8Array] {
    capacity *= 2;
    const grownStarts = new Int32Array(capacity);
    const grownEnds = new Int32Array(capacity);
    const grownQuoting = new Uint8Array(capacity);
    grownStarts.set(starts);
    grownEnds.set(ends);
    grownQuoting.set(quoting);
    record.starts = starts = grownStarts;
    record.ends = ends = grownEnds;
    record.quoting = quoting = grownQuoting;
    return [capacity, starts, ends, quoting];
  }

  /** Keeps field i's position (end of input: outside the hot loop). */
  function store(i: number, start: number, end: number, how: number): void {
    if (spilled) return;
    if (i >= capacity && growable) grow();
    if (i >= capacity) return;
    starts[i] = start;
    ends[i] = end;
    quoting[i] = how;
  }

  /** Reports the record in progress, which ends at `contentEnd` (line end excluded) and `next`. */
  function finish(count: number, contentEnd: number, next: number): void {
    fieldCount = count;
    const offset = spilled ? spillOffset : bufBase + recordStart;
    const size = bufBase + next - offset;
    record.offset = offset;
    record.size = size;
    record.line = recordLine;
    record.fieldCount = fieldCount;
    if (spilled) {
      record.bytes = spillPrefix;
      record.start = 0;
      record.end = Math.min(spillLength, bufBase + contentEnd - spillOffset);
    } else {
      record.bytes = buf;
      record.start = recordStart;
      record.end = contentEnd;
    }
    record.problem =
      problem === CsvProblem.unterminated || problem === CsvProblem.openQuote
        ? problem
        : size > maxRecordBytes
          ? CsvProblem.tooLong
          : problem;
    record.problemField = problemField;
    onRecord(record);
    recordStart = next;
    recordLine = lines + 1;
    fieldCount = 0;
    problem = CsvProblem.none;
    spilled = false;
  }

  /**
   * Ends the record whose field `field` (opening quote at buf[fieldAt]) is still open at its first
   * line end after the quote, buf[lf] (`lfLines`: `lines` just after it); returns where scanning
   * resumes. Rare: only a stray quote or a field longer than maxRecordBytes gets here.
   */
  function cutOpenQuote(field: number, fieldAt: number, lf: number, lfLines: number): number {
    const contentEnd = crlf && lf > fieldAt && buf[lf - 1] === CR ? lf - 1 : lf;
    lines = lfLines;
    problem = CsvProblem.openQuote;
    problemField = field;
    store(field, fieldAt, contentEnd, FieldQuoting.quoted);
    finish(field + 1, contentEnd, lf + 1);
    state = FIELD_START;
    quotedLf = -1;
    return lf + 1;
  }

  /** After scanning buf to its end: cuts records whose open quoted field passed maxRecordBytes, rescanning after each. */
  function cutLongOpenQuotes(): void {
    while (!spilled && (state === QUOTED || state === QUOTE_SEEN || state === ESCAPED) && quotedLf >= 0 && bufLength - recordStart > openQuoteLimit) {
      scan(cutOpenQuote(fieldCount, fieldStart, quotedLf, quotedLfLines));
    }
  }

  /**
   * Runs the state machine over buf[pos, bufLength). Constants are literals or locals here: Node 20
   * loads a module-scope const from its context, with a hole check, on every use (measured: 90 →
   * 65 ns a record on a 5-column file); the dialect's bytes are copied to locals for the same reason.
   */
  function scan(pos: number): void {
    const b = buf;
    const n = bufLength;
    const dl = delimiter;
    const qt = quote;
    const eol = lineEnd;
    const cr = crlf;
    const bs = escape;
    let st = state;
    let fs = fieldStart;
    let fc = fieldCount;
    let esc = escaped;
    let qlf = quotedLf;
    let qlfLines = quotedLfLines;
    // Field positions go straight into the arrays while the record's bytes are kept.
    let keep = spilled ? 0 : capacity;
    let fieldStarts = starts;
    let fieldEnds = ends;
    let fieldQuoting = quoting;
    while (pos < n) {
      if (st === 0 /* FIELD_START */) {
        fs = pos;
        if (b[pos] === qt) {
          st = 2 /* QUOTED */;
          esc = 0;
          qlf = -1;
          pos++;
          continue;
        }
        st = 1 /* UNQUOTED */;
      }
      if (st === 1 /* UNQUOTED */) {
        let c = 0;
        while (pos < n) {
          c = b[pos];
          if (c === dl || c === eol || c === qt) break;
          pos++;
        }
        if (pos === n) break;
        if (c === dl) {
          if (fc >= keep && growable && !spilled) [keep, fieldStarts, fieldEnds, fieldQuoting] = grow();
          if (fc < keep) {
            fieldStarts[fc] = fs;
            fieldEnds[fc] = pos;
            fieldQuoting[fc] = 0 /* unquoted */;
          }
          fc++;
          fs = ++pos;
          // The next field is most often unquoted too: stay in this loop.
          if (pos < n && b[pos] !== qt) continue;
          st = 0 /* FIELD_START */;
          continue;
        }
        if (c === qt) {
          strayQuote(fc);
          pos++;
          continue;
        }
        const fe = cr && pos > fs && b[pos - 1] === 13 /* CR */ ? pos - 1 : pos;
        lines++;
        pos++;
        st = 0 /* FIELD_START */;
        if (fc === 0 && fe === fs && !spilled) {
          // A blank line: no record, but a line.
          recordStart = pos;
          recordLine = lines + 1;
          continue;
        }
        if (fc >= keep && growable && !spilled) [keep, fieldStarts, fieldEnds, fieldQuoting] = grow();
        if (fc < keep) {
          fieldStarts[fc] = fs;
          fieldEnds[fc] = fe;
          fieldQuoting[fc] = 0 /* unquoted */;
        }
        finish(fc + 1, fe, pos);
        fc = 0;
        keep = capacity;
        continue;
      }
      if (st === 5 /* ESCAPED */) {
        // A line end is data in quotes anyway: left to the loop below, which counts it.
        if (b[pos] !== eol) pos++;
        st = 2 /* QUOTED */;
      }
      if (st === 2 /* QUOTED */) {
        let c = 0;
        while (pos < n) {
          c = b[pos];
          if (c === qt || c === bs) break;
          if (c === eol) {
            lines++;
            if (qlf < 0) {
              qlf = pos;
              qlfLines = lines;
            }
            // Past the record limit with the field open: the record ends at qlf (see the file's comment).
            if (spilled ? cutWhenSpilled : pos + 1 - recordStart > openQuoteLimit) break;
          }
          pos++;
        }
        if (pos === n) break;
        if (c === bs) {
          esc = 1;
          pos++;
          st = 5 /* ESCAPED */;
          continue;
        }
        // An LF past the limit, or a quote past it with an LF before it in the field: the field was
        // open as the record passed the limit, so the record ends at qlf. Deciding at the quote, not
        // only where a chunk ends (cutLongOpenQuotes), makes the cut the same however bytes arrive.
        if (c === eol || (qlf >= 0 && pos + 1 - recordStart > openQuoteLimit)) {
          pos = cutOpenQuote(fc, fs, spilled ? pos : qlf, spilled ? lines : qlfLines);
          st = 0 /* FIELD_START */;
          fc = 0;
          qlf = -1;
          keep = capacity;
          continue;
        }
        pos++;
        st = 3 /* QUOTE_SEEN */;
        if (pos === n) break;
      }
      if (st === 3 /* QUOTE_SEEN */) {
        const c = b[pos];
        if (c === qt && bs < 0) {
          esc = 1;
          st = 2 /* QUOTED */;
          pos++;
          continue;
        }
        if (c === 13 /* CR */ && cr) {
          st = 4 /* CLOSED_CR */;
          pos++;
          continue;
        }
        if (c !== dl && c !== eol) {
          textAfterQuote(fc);
          st = 1 /* UNQUOTED */;
          continue;
        }
        if (fc >= keep && growable && !spilled) [keep, fieldStarts, fieldEnds, fieldQuoting] = grow();
        if (fc < keep) {
          fieldStarts[fc] = fs + 1;
          fieldEnds[fc] = pos - 1;
          fieldQuoting[fc] = 1 /* quoted */ + esc;
        }
        fc++;
        pos++;
        st = 0 /* FIELD_START */;
        if (c === eol) {
          lines++;
          finish(fc, pos - 1, pos);
          fc = 0;
          keep = capacity;
        }
        continue;
      }
      // 4 /* CLOSED_CR */
      if (b[pos] !== 10 /* LF */) {
        textAfterQuote(fc);
        st = 1 /* UNQUOTED */;
        continue;
      }
      if (fc >= keep && growable && !spilled) [keep, fieldStarts, fieldEnds, fieldQuoting] = grow();
      if (fc < keep) {
        fieldStarts[fc] = fs + 1;
        fieldEnds[fc] = pos - 2;
        fieldQuoting[fc] = 1 /* quoted */ + esc;
      }
      lines++;
      pos++;
      st = 0 /* FIELD_START */;
      finish(fc + 1, pos - 2, pos);
      fc = 0;
      keep = capacity;
    }
    state = st;
    fieldStart = fs;
    fieldCount = fc;
    escaped = esc;
    quotedLf = qlf;
    quotedLfLines = qlfLines;
  }

  function strayQuote(field: number): void {
    if (problem !== CsvProblem.none) return;
    problem = CsvProblem.strayQuote;
    problemField = field;
  }

  function textAfterQuote(field: number): void {
    if (problem !== CsvProblem.none) return;
    problem = CsvProblem.textAfterQuote;
    problemField = field;
  }

  /** After scanning buf to its end: keep the unfinished record's bytes, or only follow it if too long. */
  function keepUnfinished(): void {
    const unfinished = bufLength - recordStart;
    if (spilled || unfinished === 0) {
      carryLength = 0;
      return;
    }
    if (unfinished > maxRecordBytes) {
      spilled = true;
      // No line end since the open quote (cutLongOpenQuotes ran): the record ends at the next one.
      quotedLf = -1;
      spillOffset = bufBase + recordStart;
      spillLength = buf.copy(spillPrefix, 0, recordStart, bufLength);
      carryLength = 0;
      return;
    }
    if (buf === carry) {
      if (recordStart > 0) carry.copyWithin(0, recordStart, bufLength);
    } else {
      if (carry.length < unfinished) carry = Buffer.allocUnsafe(Math.max(unfinished, 2 * carry.length, 1024));
      buf.copy(carry, 0, recordStart, bufLength);
    }
    const shift = recordStart;
    for (let i = 0; i < Math.min(fieldCount, capacity); i++) {
      starts[i] -= shift;
      ends[i] -= shift;
    }
    fieldStart -= shift;
    if (quotedLf >= 0) quotedLf -= shift;
    bufBase += shift;
    recordStart = 0;
    carryLength = unfinished;
  }

  /** Appends bytes to the carried record, growing the carry geometrically. */
  function append(data: Buffer, from: number, to: number): void {
    const needed = carryLength + (to - from);
    if (carry.length < needed) {
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * carry.length));
      carry.copy(grown, 0, 0, carryLength);
      carry = grown;
    }
    data.copy(carry, carryLength, from, to);
    carryLength = needed;
  }

  return {
    push(chunk) {
      const data = asBuffer(chunk);
      const chunkBase = consumed;
      consumed += data.length;
      let from = 0;
      // Finish the carried record first, one line at a time, so only its own bytes are copied.
      while (carryLength > 0 && from < data.length) {
        const lf = data.indexOf(lineEnd, from);
        const to = lf < 0 ? data.length : lf + 1;
        const scanFrom = carryLength;
        append(data, from, to);
        buf = carry;
        bufLength = carryLength;
        scan(scanFrom);
        cutLongOpenQuotes();
        keepUnfinished();
        if (carryLength === 0) bufBase = chunkBase + to;
        from = to;
      }
      if (from === data.length) return;
      if (spilled && spillLength < RAW_PREFIX_BYTES) spillLength += data.copy(spillPrefix, spillLength, from);
      buf = data;
      bufLength = data.length;
      bufBase = chunkBase;
      if (!spilled) recordStart = from;
      scan(from);
      cutLongOpenQuotes();
      keepUnfinished();
      if (carryLength === 0) {
        buf = EMPTY;
        bufLength = 0;
        bufBase = consumed;
        recordStart = 0;
      }
    },

    end() {
      buf = carryLength > 0 ? carry : EMPTY;
      bufLength = carryLength;
      if (!spilled && carryLength === 0) {
        bufBase = consumed;
        recordStart = 0;
      }
      const n = bufLength;
      // A quoted field open at the end of the input ends its record at its first line end, if any.
      while (!spilled && (state === QUOTED || state === ESCAPED) && quotedLf >= 0 && openQuoteLimit !== Infinity) scan(cutOpenQuote(fieldCount, fieldStart, quotedLf, quotedLfLines));
      if (spilled || n > recordStart) {
        const fc = fieldCount;
        if (state === FIELD_START) {
          store(fc, n, n, FieldQuoting.unquoted);
          finish(fc + 1, n, n);
        } else if (state === UNQUOTED) {
          const fe = crlf && n > fieldStart && buf[n - 1] === CR ? n - 1 : n;
          // Unless it is a blank last line.
          if (fc > 0 || fe > fieldStart || spilled) {
            store(fc, fieldStart, fe, FieldQuoting.unquoted);
            finish(fc + 1, fe, n);
          }
        } else if (state === QUOTED || state === ESCAPED) {
          problem = CsvProblem.unterminated;
          problemField = fc;
          store(fc, fieldStart, n, FieldQuoting.quoted);
          finish(fc + 1, n, n);
        } else if (state === QUOTE_SEEN) {
          store(fc, fieldStart + 1, n - 1, FieldQuoting.quoted + escaped);
          finish(fc + 1, n, n);
        } else {
          store(fc, fieldStart + 1, n - 2, FieldQuoting.quoted + escaped);
          finish(fc + 1, n - 1, n);
        }
      }
      state = FIELD_START;
      carryLength = 0;
      buf = EMPTY;
      bufLength = 0;
    },

    get lines() {
      return lines;
    },
    get bytes() {
      return consumed;
    },
    get recordOffset() {
      // Between pushes an unfinished record is either carried (from bufBase) or spilled.
      return spilled ? spillOffset : carryLength > 0 ? bufBase + recordStart : consumed;
    },
  };
}
