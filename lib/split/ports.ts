import type { PartitionMessage } from '../process/partitionMessage.ts';
import type { CreatedObject } from './s3Event.ts';
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

/** Size and version identity of an object, as S3's HEAD answers (its errors' `name` as S3 gives it). */
export interface ObjectHeads {
  head(bucket: string, key: string): Promise<{ size: number; eTag: string; versionId?: string }>;
}

/** Sends ObjectCreated notifications to the ingest queue, as S3 does: the splitter takes them from there. */
export interface IngestQueue {
  send(object: CreatedObject): Promise<void>;
}
