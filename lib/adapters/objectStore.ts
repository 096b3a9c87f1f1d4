import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { ObjectChangedError, type ObjectPin, type ObjectReader } from '../process/ports.ts';
import type { ObjectStore } from '../split/ports.ts';

/**
 * The S3 operations the pipeline uses: the splitter's ObjectStore and the processor's ObjectReader
 * ports, plus `head`.
 */
export interface S3ObjectStore extends ObjectStore, ObjectReader {
  /** Size and version identity (versionId when versioned, else the ETag) of an object. */
  head(bucket: string, key: string): Promise<{ size: number; eTag: string; versionId?: string; contentEncoding?: string }>;
}

/** An S3ObjectStore over an S3 client (AWS, LocalStack or moto alike). */
export function s3ObjectStore(s3: S3Client): S3ObjectStore {
  const get = async (bucket: string, key: string, range?: { start: number; end: number }, pin?: ObjectPin) => {
    try {
      const out = await s3.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          // HTTP ranges are inclusive.
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
          ...(pin && 'versionId' in pin ? { VersionId: pin.versionId } : {}),
          ...(pin && 'eTag' in pin ? { IfMatch: `"${pin.eTag}"` } : {}),
        }),
      );
      return out.Body as Readable;
    } catch (err) {
      const name = (err as { name?: string }).name ?? '';
      // 412 when the key holds other bytes than the ETag; a deleted key or version is 404.
      if (pin && ['PreconditionFailed', 'NoSuchKey', 'NoSuchVersion', 'NotFound'].includes(name)) {
        throw new ObjectChangedError(`object s3://${bucket}/${key} changed (or was deleted) during processing: ${name}`);
      }
      throw err;
    }
  };
  return {
    async head(bucket, key) {
      const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        size: out.ContentLength ?? 0,
        eTag: (out.ETag ?? '').replace(/"/g, ''),
        ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
        ...(out.ContentEncoding ? { contentEncoding: out.ContentEncoding } : {}),
      };
    },
    async readRange(bucket, key, start, end, pin) {
      if (end <= start) return new Uint8Array(0);
      const chunks: Buffer[] = [];
      for await (const chunk of await get(bucket, key, { start, end }, pin)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    async stream(bucket, key, range, pin) {
      if (range && range.end <= range.start) return (async function* () {})();
      return get(bucket, key, range, pin);
    },
    async put(bucket, key, body, contentType) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
  };
}
