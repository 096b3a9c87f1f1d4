import { RFC_4180, asBuffer, createCsvScanner, CsvProblem, type CsvDialect } from '../parse/csv.ts';
import { MAX_RAW_CHARS } from '../parse/sink.ts';

/**
 * Cuts a stream of records into parts of whole records, for objects that cannot be range-read
 * (gzip): the splitter streams the decompressed data through a cutter and stages each part.
 */

export interface PartCutterOptions {
  readonly format: 'csv' | 'ndjson';
  /** Every part but the last spans at least this many bytes of the stream; a part ends at the first record end after it. */
  readonly targetBytes: number;
  /**
   * The processors' MAX_RECORD_BYTES. Records are cut where the reader ends them with this limit,
   * and a longer record is not held: see createPartCutter.
   */
  readonly maxRecordBytes: number;
  /** CSV: the separator, quote and line end bytes, as the processors read them. @default RFC_4180 */
  readonly dialect?: CsvDialect;
}

export interface PartCutter {
  /** Takes the next chunk of data; returns the parts it completes (often none). */
  push(chunk: Uint8Array): Buffer[];
  /** Ends the data; returns the last part, if any bytes are left. */
  end(): Buffer[];
  /** Bytes held for the part in progress: less than a part, a record and a chunk, however long a record is. */
  pendingBytes(): number;
  /** Records longer than the limit seen so far, each shortened to its first bytes. */
  readonly shortenedRecords: number;
}

const LF = 10;
const NOTHING = Buffer.alloc(0);

/** Bytes [from, to) of the stream left out of the part, `insert` in their place. */
interface Drop {
  readonly from: number;
  readonly to: number;
  readonly insert: Buffer;
}

/**
 * A cutter for data that starts at a record (after the header). Parts are cut only after a line
 * end (LF, or the dialect's) that ends a record — for CSV, as the processor's reader sees it (same scanner, same
 * maxRecordBytes): outside quotes, and after a malformed record exactly where the reader resumes,
 * an open quote included — so each part parses to the same records as the whole.
 *
 * A record longer than maxRecordBytes is a reject whatever it holds, so its bytes past the first
 * max(maxRecordBytes + 1, 4 × MAX_RAW_CHARS) are dropped as they arrive and only its line end is
 * kept: the part holds a record the reader still rejects as too long, on the same line (past
 * maxRecordBytes a record ends at its first LF, so the dropped bytes hold none), with the same raw
 * text (rawText reads 4 × MAX_RAW_CHARS bytes). A CSV stub gets a quote before its line end when
 * that is what makes its problem the record's own (too long, or a quoted field left open).
 * Memory stays at a part, that prefix and a chunk, whatever the record's length.
 *
 * @example
 * const cutter = createPartCutter({ format: 'csv', targetBytes: 8 << 20, maxRecordBytes: 256 << 10 });
 * for await (const chunk of gunzipped) for (const part of cutter.push(chunk)) await stage(part);
 * for (const part of cutter.end()) await stage(part);
 */
export function createPartCutter(options: PartCutterOptions): PartCutter {
  const targetBytes = Math.max(1, options.targetBytes);
  const { maxRecordBytes } = options;
  const dialect = options.dialect ?? RFC_4180;
  // NDJSON lines end with LF; a CSV stub's insertions are written in the dialect's bytes.
  const lineEnd = options.format === 'csv' ? dialect.lineEnd : LF;
  const NEWLINE = Buffer.from([lineEnd]);
  const QUOTE = Buffer.from([dialect.quote]);
  const DELIMITER_QUOTE = Buffer.from([dialect.delimiter, dialect.quote]);
  const keepBytes = Math.max(maxRecordBytes + 1, 4 * MAX_RAW_CHARS);
  /** Bytes not yet in a part, and where the part in progress starts in the stream. */
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let partStart = 0;
  let consumed = 0;
  let cuts: number[] = [];
  const lastCut = () => (cuts.length > 0 ? cuts[cuts.length - 1] : partStart);
  /** The long record being dropped: its stream start (-1: none), and its end once the scanner reports it. */
  let longStart = -1;
  let longEnd = -1;
  let longProblem: CsvProblem = CsvProblem.none;
  let shortened = 0;
  /** NDJSON: where the line in progress starts. */
  let lineStart = 0;

  const scanner =
    options.format === 'csv'
      ? createCsvScanner({ storedFields: 0, maxRecordBytes, dialect }, (record) => {
          const end = record.offset + record.size;
          if (record.offset === longStart) {
            longEnd = end;
            longProblem = record.problem;
          }
          if (end - lastCut() >= targetBytes) cuts.push(end);
        })
      : undefined;

  /** Record ends in a chunk of NDJSON: after each LF at or past the target. */
  function findLineCuts(data: Buffer, base: number): void {
    for (;;) {
      const from = Math.max(0, lastCut() + targetBytes - 1 - base);
      const lf = from < data.length ? data.indexOf(LF, from) : -1;
      if (lf < 0) return;
      cuts.push(base + lf + 1);
    }
  }

  /** Adds bytes to the part in progress; copied when they stay pending, as the caller may reuse its chunk (and a view would keep all of it alive). */
  function keep(piece: Buffer, copy: boolean): void {
    if (piece.length === 0) return;
    pending.push(copy ? Buffer.from(piece) : piece);
    pendingLength += piece.length;
  }

  /** The part in progress, less its last `tail` bytes, which stay pending for the next part. */
  function takePart(tail = 0): Buffer {
    const all = Buffer.concat(pending, pendingLength);
    pending = [];
    pendingLength = 0;
    if (tail > 0) keep(all.subarray(all.length - tail), true);
    return tail > 0 ? all.subarray(0, all.length - tail) : all;
  }

  /**
   * What goes between a CSV stub's kept prefix and its line end (`lineEnd`: its LF, or none at the
   * end of the data) so that the reader finds the whole record's problem (`problem`) in the stub:
   * nothing; `"` when the prefix ends inside a quoted field the record closed; `,"` when the record
   * ends inside a quoted field its prefix had not opened.
   */
  function csvStubInsert(problem: CsvProblem, lineEnd: Buffer): Buffer {
    const prefix = Buffer.concat(pending, pendingLength).subarray(pendingLength - keepBytes);
    for (const insert of [NOTHING, QUOTE, DELIMITER_QUOTE]) {
      const problems: CsvProblem[] = [];
      const probe = createCsvScanner({ storedFields: 0, maxRecordBytes, dialect }, (r) => problems.push(r.problem));
      probe.push(Buffer.concat([prefix, insert, lineEnd]));
      probe.end();
      if (problems.length === 1 && problems[0] === problem) return insert;
    }
    return NOTHING;
  }

  return {
    push(chunk) {
      const data = asBuffer(chunk);
      const base = consumed;
      consumed += data.length;
      if (scanner) scanner.push(data);
      else findLineCuts(data, base);

      // Stream ranges of this chunk to drop, in order: the rest of a long record, the start of another.
      const drops: Drop[] = [];
      if (longStart >= 0) {
        const lf = scanner ? -1 : data.indexOf(lineEnd);
        const end = scanner ? longEnd : lf >= 0 ? base + lf + 1 : -1;
        if (end >= 0) {
          // Its LF (the record's last byte) is kept.
          drops.push({ from: base, to: end - 1, insert: scanner ? csvStubInsert(longProblem, NEWLINE) : NOTHING });
          longStart = -1;
        } else {
          drops.push({ from: base, to: consumed, insert: NOTHING });
        }
      }
      if (!scanner) {
        const lf = data.lastIndexOf(LF);
        if (lf >= 0) lineStart = base + lf + 1;
      }
      const start = scanner ? scanner.recordOffset : lineStart;
      if (longStart < 0 && consumed - start > keepBytes) {
        longStart = start;
        longEnd = -1;
        shortened++;
        drops.push({ from: start + keepBytes, to: consumed, insert: NOTHING });
      }

      // Cuts are record ends, so no drop (inside a record) spans one.
      const parts: Buffer[] = [];
      let from = base;
      let next = 0;
      /** Keeps the stream's [from, to), less the drops; copied when it stays pending. */
      const keepUpTo = (to: number, copy: boolean) => {
        for (; next < drops.length && drops[next].from < to; next++) {
          const drop = drops[next];
          if (drop.from > from) keep(data.subarray(from - base, drop.from - base), copy);
          keep(drop.insert, false);
          from = drop.to;
        }
        if (to > from) keep(data.subarray(from - base, to - base), copy);
        from = to;
      };
      for (const cut of cuts) {
        if (cut >= from) {
          keepUpTo(cut, false);
          parts.push(takePart());
        } else {
          // A record cut at its open quote's line end is reported up to maxRecordBytes later: the
          // bytes after it are pending already (undropped: no record over the limit began there).
          parts.push(takePart(from - cut));
        }
        partStart = cut;
      }
      cuts = [];
      keepUpTo(consumed, true);
      return parts;
    },
    pendingBytes() {
      return pendingLength;
    },
    get shortenedRecords() {
      return shortened;
    },
    end() {
      longEnd = -1;
      scanner?.end();
      // A long record at the very end has no line end to keep; a CSV one may still need its quote.
      if (scanner && longStart >= 0 && longEnd >= 0) keep(csvStubInsert(longProblem, NOTHING), false);
      longStart = -1;
      cuts = [];
      partStart = consumed;
      const rest = takePart();
      return rest.length > 0 ? [rest] : [];
    },
  };
}
