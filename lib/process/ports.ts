/** What processing a partition needs from the outside world, implemented by lib/adapters/. */

import { BatchflowError } from '../errors.ts';

/**
 * The one version of an object a job reads: by version id in a versioned bucket, else by ETag
 * (a GET that S3 answers 412 when the key holds other bytes now).
 */
export type ObjectPin = { readonly versionId: string } | { readonly eTag: string };

/** The pinned version is gone: the key was overwritten (unversioned bucket) or the version deleted. */
export class ObjectChangedError extends BatchflowError {
  override name = 'ObjectChangedError';
}

/** Reads the uploaded objects and staged parts that partitions point into. */
export interface ObjectReader {
  /** Bytes [start, end) of an object (one Range GET), of the pinned version if given; ObjectChangedError if it is gone. */
  readRange(bucket: string, key: string, start: number, end: number, pin?: ObjectPin): Promise<Uint8Array>;
  /** Streams bytes [start, end) of an object, or all of it when no range is given (pinned as readRange). */
  stream(bucket: string, key: string, range?: { start: number; end: number }, pin?: ObjectPin): Promise<AsyncIterable<Uint8Array>>;
}

/** The pin of a job's object: its version id, else its ETag; none for jobs recorded without either. */
export function pinOf(job: { readonly versionId: string | null; readonly eTag: string | null }): ObjectPin | undefined {
  if (job.versionId) return { versionId: job.versionId };
  if (job.eTag) return { eTag: job.eTag };
  return undefined;
}
