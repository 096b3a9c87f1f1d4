import { z } from 'zod';

/**
 * Page cursors: opaque to clients, base64url of the JSON array of the last row's key. A cursor is
 * decoded and checked against the route's key schema before it reaches SQL, where its parts are
 * parameters; a forged or truncated one is a 400 naming the `cursor` parameter.
 */

/** A cursor longer than this is no cursor of ours (the longest key is a result row's). */
const MAX_CURSOR_CHARS = 2048;

/** The cursor of the page after the row with this key. */
export function encodeCursor(key: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a cursor names, or undefined when it is not one `keySchema` accepts. */
export function decodeCursor<K>(raw: string, keySchema: z.ZodType<K>): K | undefined {
  if (raw.length === 0 || raw.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(raw)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = keySchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** An optional `cursor` query parameter decoding to a key of `keySchema`. */
export function cursorParam<K>(keySchema: z.ZodType<K>) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const key = decodeCursor(raw, keySchema);
      if (key !== undefined) return key;
      ctx.issues.push({ code: 'custom', input: raw, message: `is not a cursor this route returned as nextCursor` });
      return z.NEVER;
    });
}

/** Key parts as they travel in a cursor. */
export const cursorParts = {
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** An int column (a partition index, a reject's sequence): beyond it Postgres would fail the cast. */
  int32: z.number().int().min(0).max(2_147_483_647),
  // Postgres text cannot hold NUL: such a key is no row's, and as a parameter it would fail the query.
  text: z.string().max(1000).regex(/^[^\u0000]*$/),
  instant: z.iso.datetime().transform((s) => new Date(s)),
};
