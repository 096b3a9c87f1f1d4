import { describe, expect, it } from 'vitest';
import { parseS3Notification, s3Notification } from '../../../lib/split/s3Event.ts';

/** A notification as S3 writes it: the key URL-encoded, `+` for spaces. */
function notification(key: string): string {
  return JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key, size: 10, eTag: '"e1"' } } }] });
}

describe('parseS3Notification', () => {
  it('decodes keys as S3 encodes them', () => {
    // Prepare
    const keys = ['uploads/s/with space.csv', 'uploads/s/a+b.csv', 'uploads/s/売上 100%.csv'];
    const encoded = keys.map((k) => encodeURIComponent(k).replaceAll('%2F', '/').replaceAll('%20', '+'));

    // Act
    const decoded = encoded.map((e) => parseS3Notification(notification(e)).objects[0]?.key);

    // Assess
    expect(decoded).toEqual(keys);
  });

  it('ignores, naming it, a record whose key is not URL-encoded, instead of failing the whole message', () => {
    // Act
    const { objects, ignored } = parseS3Notification(notification('uploads/s/bad%E0%A4%A.csv'));

    // Assess
    expect(objects).toEqual([]);
    expect(ignored).toEqual(['key "uploads/s/bad%E0%A4%A.csv" is not URL-encoded as S3 encodes keys']);
  });

  it('reads back the notification the API sends as the object it names, however its key is spelt', () => {
    // Prepare: keys with spaces, a plus, a percent sign and non-ASCII, in a versioned and an unversioned bucket.
    const keys = ['uploads/s/with space.csv', 'uploads/s/a+b.csv', 'uploads/s/売上 100%.csv'];
    const objects = keys.flatMap((key) => [
      { bucket: 'b', key, size: 42, objectVersion: 'v1', versionId: 'v1', eTag: 'e1' },
      { bucket: 'b', key, size: 42, objectVersion: 'e1', eTag: 'e1' },
    ]);

    // Act
    const read = objects.map((o) => parseS3Notification(s3Notification(o)));

    // Assess
    expect(read.map((r) => r.objects)).toEqual(objects.map((o) => [o]));
    // The key as S3 writes it (decodeKey's input): slashes kept, spaces as +.
    expect(JSON.parse(s3Notification(objects[0]!)).Records[0].s3.object.key).toBe('uploads/s/with+space.csv');
  });
});
