import { z } from 'zod';
import { BatchflowError } from '../errors.ts';
import type { KeysetPage } from '../store/paging.ts';
import type { PageJson } from '../views.ts';
import { encodeCursor } from './cursor.ts';

/**
 * What every HTTP API route shares: the request and response shapes, the client error, and the
 * parameter parsers that name the parameter in a 400.
 */

/** The parts of a request a route reads, as the client sent them (unvalidated). */
export interface ApiRequest {
  readonly path: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The JSON body, parsed (undefined when there is none); only PUT and POST routes read it. */
  readonly body?: unknown;
}

export interface ApiResponse {
  readonly status: 200 | 201 | 400 | 404 | 409;
  /** Serialised with JSON.stringify, which writes dates as ISO 8601. */
  readonly body: unknown;
}

/** A request the API answers with a client error; the message goes to the client as is. */
export class ApiError extends BatchflowError {
  override name = 'ApiError';
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

// Echoing a whole multi-kilobyte parameter back helps no one.
export const shown = (raw: string) => JSON.stringify(raw.length > 100 ? `${raw.slice(0, 100)}...` : raw);

/** Plain decimal digits only: Number() would also take "1e3", "0x10" and " 7 ". */
export function integer(min: number, max: number, fallback?: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined && fallback !== undefined) return fallback;
      const n = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
      const range = max === Number.MAX_SAFE_INTEGER ? `a positive integer` : `an integer from ${min} to ${max}`;
      ctx.issues.push({ code: 'custom', input: raw, message: `must be ${range}, got ${raw === undefined ? 'nothing' : shown(raw)}` });
      return z.NEVER;
    });
}

// A zone is required: without one the instant would depend on the server's time zone.
const isoInstant = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** An optional ISO 8601 date (UTC midnight) or date-time with Z or an offset. */
export function instant() {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      if (isoInstant.safeParse(raw).success) return new Date(raw);
      ctx.issues.push({
        code: 'custom',
        input: raw,
        message: `must be an ISO 8601 date or date-time with a zone (2024-03-01 or 2024-03-01T00:00:00Z), got ${shown(raw)}`,
      });
      return z.NEVER;
    });
}

export const jobId = integer(1, Number.MAX_SAFE_INTEGER);
/** The largest page any list route answers. */
export const MAX_LIMIT = 1000;
export const limit = (fallback: number) => integer(1, MAX_LIMIT, fallback);

/** The first problem, led by the parameter's name (issues carry it as their path). */
export function parse<T>(schema: z.ZodType<T>, request: ApiRequest): T {
  const result = schema.safeParse(request);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ApiError(400, `${String(issue.path.at(-1) ?? 'request')} ${issue.message}`);
}

/** A store page as the API answers it: items mapped for the wire, the next key as an opaque cursor. */
export function pageJson<T, K, J>(page: KeysetPage<T, K>, toJson: (item: T) => J, keyJson: (key: K) => readonly unknown[]): PageJson<J> {
  return { items: page.items.map(toJson), nextCursor: page.next === null ? null : encodeCursor(keyJson(page.next)) };
}

/** A partition's id on the wire: `<jobId>-<idx>` (`batchflow status` prints it so). */
export const partitionId = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const m = raw === undefined ? null : /^(\d{1,15})-(\d{1,9})$/.exec(raw);
    if (m && Number(m[1]) > 0) return { jobId: Number(m[1]), idx: Number(m[2]) };
    ctx.issues.push({ code: 'custom', input: raw, message: `must be <jobId>-<partition index>, e.g. 12-0, got ${raw === undefined ? 'nothing' : shown(raw)}` });
    return z.NEVER;
  });

