import type { PartitionMessage } from '../process/partitionMessage.ts';
import type { ObjectReader } from '../process/ports.ts';

/** What splitting an object needs from the outside world, implemented by lib/adapters/. */

/** Reads uploaded objects (as the processor does) and writes the staged parts of compressed ones. */
export interface ObjectStore extends ObjectReader {
  /** Writes an object. */
  put(bucket: string, key: string, body: Uint8Array, contentType?: string): Promise<void>;
}

/** Sends partition messages to the partition queue. */
export interface PartitionQueue {
  /** Sends every message; resolves with the indexes SQS accepted, throws if some never were. */
  send(messages: readonly PartitionMessage[]): Promise<number[]>;
}
