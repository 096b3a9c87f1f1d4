/** What a processor measured for one partition. */
export interface PartitionStats {
  readonly recordsRead: number;
  readonly recordsAggregated: number;
  readonly recordsRejected: number;
  readonly lines: number;
  readonly bytesRead: number;
  readonly readMs: number;
  readonly parseMs: number;
  readonly mergeMs: number;
  /** Values counted as missing under `onInvalidValue: "null"`, per column (only columns with any). */
  readonly valuesNulled?: Readonly<Record<string, number>>;
}
