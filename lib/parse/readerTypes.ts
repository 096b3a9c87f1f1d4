/** The contract every record reader (CSV, NDJSON) implements; createRecordReader picks one by format. */

/** Where a range sits in its object, and how long a record may be. */
export interface ReaderOptions {
  /** Absolute position of the range's first byte in the object (or staged part). */
  readonly baseOffset: number;
  /** The longest record accepted, line end included; a longer one is rejected unbuffered. */
  readonly maxRecordBytes: number;
  /**
   * Times accepted, [minMs, endMs) in epoch ms: values.ts timeRange(granularity) keeps every bucket
   * inside years 0001–9999. Default: [MIN_TIME_MS, END_TIME_MS), the years themselves.
   */
  readonly timeRange?: { readonly minMs: number; readonly endMs: number };
}

/** What a reader consumed: records = accepted + rejected; lines = line end bytes (physical lines: LF, or CR in a CR-only file). */
export interface ReaderStats {
  readonly records: number;
  readonly rejected: number;
  readonly lines: number;
  readonly bytes: number;
  /**
   * Values counted as missing under `onInvalidValue: "null"`, per column (only columns with any),
   * in accepted records only; absent when there are none.
   */
  readonly valuesNulled?: Readonly<Record<string, number>>;
}

/** Turns a byte range, pushed in chunks, into calls on a RecordSink. */
export interface RecordReader {
  /** Parses a chunk; records may span chunks. */
  push(chunk: Uint8Array): void;
  /** Ends the range (a last record needs no line end) and returns the counts. */
  end(): ReaderStats;
}
