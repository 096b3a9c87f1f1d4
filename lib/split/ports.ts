import type { PartitionMessage } from '../process/partitionMessage.ts';

/** What splitting an object needs from the outside world, implemented by lib/adapters/. */

/** Reads uploaded objects and writes the staged parts of compressed ones. */
export interface ObjectStore {
  /** Bytes [start, end) of an object (one Range GET). */
  readRange(bucket: string, key: string, start: number, end: number): Promise<Uint8Array>;
  /** Streams bytes [start, end) of an object, or all of it when no range is given. */
  stream(bucket: string, key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array>>;
  /** Writes an object. */
  put(bucket: string, key: string, body: Uint8Array, contentType?: string): Promise<void>;
}

/** Sends partition messages to the partition queue. */
export interface PartitionQueue {
  /** Sends every message; resolves with the indexes SQS accepted, throws if some never were. */
  send(messages: readonly PartitionMessage[]): Promise<number[]>;
}
