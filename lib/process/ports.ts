/** What processing a partition needs from the outside world, implemented by lib/adapters/. */

/** Reads the uploaded objects and staged parts that partitions point into. */
export interface ObjectReader {
  /** Bytes [start, end) of an object (one Range GET). */
  readRange(bucket: string, key: string, start: number, end: number): Promise<Uint8Array>;
  /** Streams bytes [start, end) of an object, or all of it when no range is given. */
  stream(bucket: string, key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array>>;
}
