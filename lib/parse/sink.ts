import type { CsvDialect } from './csv.ts';

/**
 * The contract between the parsers (lib/parse) and the aggregator (lib/rollup): a parser turns
 * bytes into typed records and hands each one to a RecordSink, or rejects it with a reason.
 */

import type { NumberNotation } from './numbers.ts';

/** How a dataset writes its field values (README "datasets": the value options). */
export interface ValueOptions extends NumberNotation {
  /** Field texts that mean missing (a metric NaN, a dimension ''); `[""]` by default. */
  readonly nullValues: readonly string[];
  /** IANA zone of times written without an offset. */
  readonly timeZone: string;
  /** A metric or dimension value that cannot be used: the record is rejected, or the value counts as missing. */
  readonly onInvalidValue: 'reject' | 'null';
}

/** The value options of a dataset that sets none. */
export const DEFAULT_VALUE_OPTIONS: ValueOptions = {
  nullValues: [''],
  decimalSeparator: '.',
  thousandsSeparator: null,
  timeZone: 'UTC',
  onInvalidValue: 'reject',
};

/** How to read one dataset's records: derived from its DatasetDefinition and, for CSV, the header. */
export interface RecordLayout {
  readonly format: 'csv' | 'ndjson' | 'parquet';
  /** CSV: the header's column names, in file order; Parquet: the schema's top-level columns. */
  readonly columns: readonly string[];
  readonly timeColumn: string;
  /** `iso`, `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns` or a strftime-style pattern (time.ts). */
  readonly timeFormat: string;
  readonly dimensions: readonly string[];
  readonly metrics: readonly string[];
  /** CSV only: the separator, quote and line end bytes. @default RFC_4180 */
  readonly dialect?: CsvDialect;
  /** Null values, number notation, time zone, bad-value policy; DEFAULT_VALUE_OPTIONS when absent. */
  readonly values?: ValueOptions;
}

/** A record that could not be used, with where it was and why. */
export interface RejectedRecord {
  /** Physical line (1-based) where the record starts, counted from the start of the parsed range. */
  readonly line: number;
  /** Absolute byte offset of the record in the object (or staged part). */
  readonly offset: number;
  /** Names the field and the value, e.g. `field "amount": "12x" is not a number`. */
  readonly reason: string;
  /** The record's raw text, truncated to MAX_RAW_CHARS. */
  readonly raw: string;
}

export const MAX_RAW_CHARS = 1000;

/** Receives every record of a range exactly once: either accepted or rejected. */
export interface RecordSink {
  /**
   * One valid record. `dims` holds the dimension values in `layout.dimensions` order (missing or
   * empty: ''); `metrics` the metric values in `layout.metrics` order (missing or empty: NaN).
   * Both arrays are reused for the next record: copy what you keep.
   */
  accept(timeMs: number, dims: readonly string[], metrics: Float64Array): void;
  reject(record: RejectedRecord): void;
}
