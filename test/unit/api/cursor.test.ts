import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { cursorParam, cursorParts, decodeCursor, encodeCursor } from '../../../lib/api/cursor.ts';

/** Cursors: base64url of a JSON key, checked against the route's key schema before use. */

const resultKey = z.tuple([cursorParts.instant, cursorParts.text, cursorParts.text, cursorParts.text]);
const idKey = z.tuple([cursorParts.id]);
/** base64url of a text, by Node's own encoder (the expectation, not the code under test). */
const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('encodeCursor and decodeCursor', () => {
  it('encode a key as base64url of its JSON, which decodes back to the key', () => {
    // Prepare
    const key = ['2024-03-01T00:00:00.000Z', 'north "x"/é', 'amount', 'sum'];

    // Act
    const cursor = encodeCursor(key);

    // Assess
    expect(cursor).toBe(b64(JSON.stringify(key)));
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, resultKey)).toEqual([new Date('2024-03-01T00:00:00.000Z'), 'north "x"/é', 'amount', 'sum']);
  });

  it('reject what is not a key of the route: bad base64url, bad JSON, wrong shape or types, negative or fractional ids, too long', () => {
    // Prepare
    const bad = [
      '',
      'not base64!',
      b64('{"a":1'),
      b64('[1,2]'),
      b64('["1"]'),
      b64('[-1]'),
      b64('[1.5]'),
      b64('[9007199254740993]'),
      b64('{"0":1}'),
      b64('null'),
      b64('[1]') + '=',
      'A'.repeat(3000),
    ];

    // Act
    const decoded = bad.map((cursor) => decodeCursor(cursor, idKey));

    // Assess
    expect(decoded).toEqual(bad.map(() => undefined));
    expect(decodeCursor(b64('[7]'), idKey)).toEqual([7]);
    expect(decodeCursor(b64('["2024-03-01", "a", "b", "c"]'), resultKey)).toBeUndefined();
    expect(decodeCursor(encodeCursor(['2024-03-01T00:00:00.000Z', 'a\u0000', 'b', 'c']), resultKey)).toBeUndefined();
    expect(decodeCursor(encodeCursor(['2024-03-01T00:00:00.000Z', 'x'.repeat(1001), 'b', 'c']), resultKey)).toBeUndefined();
  });
});

describe('cursorParam', () => {
  it('passes an absent cursor as undefined and fails a bad one with a message for the parameter', () => {
    // Prepare
    const schema = z.object({ cursor: cursorParam(idKey) });

    // Act
    const absent = schema.safeParse({});
    const good = schema.safeParse({ cursor: b64('[42]') });
    const bad = schema.safeParse({ cursor: 'x' });

    // Assess
    expect(absent).toEqual({ success: true, data: { cursor: undefined } });
    expect(good).toEqual({ success: true, data: { cursor: [42] } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]).toMatchObject({ path: ['cursor'], message: 'is not a cursor this route returned as nextCursor' });
  });
});
