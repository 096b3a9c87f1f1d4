import { BatchflowError } from '../errors.ts';
import { topology } from '../topology.ts';

/** A message body on the ingest queue that is not an S3 event notification. */
export class S3NotificationError extends BatchflowError {
  override name = 'S3NotificationError';
}

/** An object named by an S3 ObjectCreated notification. */
export interface CreatedObject {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  /** versionId when the bucket is versioned, else the ETag: one job per value. */
  readonly objectVersion: string;
  /** The version the job reads: versionId with a versioned bucket, else the ETag (If-Match). */
  readonly versionId?: string;
  readonly eTag?: string;
}

/** What a notification body holds: objects to ingest, and what was deliberately ignored. */
export interface NotificationContents {
  readonly objects: CreatedObject[];
  readonly ignored: string[];
}

/**
 * Reads an S3 event notification as delivered in an SQS message body. Skips `s3:TestEvent` (S3 and
 * moto send one when the notification is configured) and events other than ObjectCreated. Keys
 * arrive URL-encoded with `+` for spaces, as on AWS.
 */
export function parseS3Notification(body: string): NotificationContents {
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    throw new S3NotificationError(`not an S3 notification: body is not JSON: ${body.slice(0, 200)}`);
  }
  const e = event as { Event?: string; Records?: unknown[] };
  if (e.Event === 's3:TestEvent') return { objects: [], ignored: ['s3:TestEvent'] };
  if (!Array.isArray(e.Records)) throw new S3NotificationError(`not an S3 notification: no Records in ${body.slice(0, 200)}`);
  const objects: CreatedObject[] = [];
  const ignored: string[] = [];
  for (const record of e.Records as S3Record[]) {
    if (!record.eventName?.startsWith('ObjectCreated:')) {
      ignored.push(`${record.eventName ?? 'unknown event'}`);
      continue;
    }
    const key = decodeKey(record.s3.object.key);
    if (key === undefined) {
      // S3 writes % as %25, so this message was not written by S3: retrying cannot make it readable.
      ignored.push(`key ${JSON.stringify(record.s3.object.key.slice(0, 200))} is not URL-encoded as S3 encodes keys`);
      continue;
    }
    const object = record.s3.object;
    objects.push({
      bucket: record.s3.bucket.name,
      key,
      size: object.size ?? 0,
      objectVersion: object.versionId || (object.eTag ?? '').replace(/"/g, '') || `size:${object.size}`,
      ...(object.versionId && object.versionId !== 'null' ? { versionId: object.versionId } : {}),
      ...(object.eTag ? { eTag: object.eTag.replace(/"/g, '') } : {}),
    });
  }
  return { objects, ignored };
}

/** An event's key as S3 encodes it (URL-encoded, `+` for spaces), decoded; undefined if it cannot be. */
function decodeKey(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

interface S3Record {
  eventName?: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; versionId?: string } };
}

/** The dataset an upload key names (`uploads/<dataset>/<file>`), or undefined for other keys. */
export function datasetOfKey(key: string): string | undefined {
  const prefix = topology.bucket.uploadPrefix;
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return rest.slice(0, slash);
}

/**
 * The S3 ObjectCreated notification of an object, as S3 writes it to the ingest queue (key
 * URL-encoded with `+` for spaces): what parseS3Notification reads back as the same object. The
 * API sends it to start a job, so the job runs through the splitter as an upload does.
 */
export function s3Notification(object: CreatedObject): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        eventTime: new Date().toISOString(),
        s3: {
          bucket: { name: object.bucket },
          object: {
            key: encodeURIComponent(object.key).replace(/%20/g, '+').replace(/%2F/g, '/'),
            size: object.size,
            ...(object.eTag ? { eTag: object.eTag } : {}),
            ...(object.versionId ? { versionId: object.versionId } : {}),
          },
        },
      },
    ],
  });
}
