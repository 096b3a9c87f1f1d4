import { z } from 'zod';
import type { RecoveryContext } from '../recovery/recovery.ts';
import { schemaStatus } from '../store/migrate.ts';
import { ApiError, parse } from './params.ts';
import type { RestRoute } from './rest.ts';

/** What the API knows of its own stack, from its function's environment (lib/config.ts ApiConfig). */
export interface StackInfo {
  readonly uploadBucket: string | undefined;
  readonly region: string | undefined;
  /** The queues whose dead letters `batchflow redrive --target api` moves back (with the caller's own credentials). */
  readonly queues?: { readonly ingest: string | undefined; readonly partitions: string | undefined };
}

/**
 * `GET /api/stack`: what a client needs beside the API itself — the bucket uploads go to (so
 * `batchflow upload --target api` needs only BATCHFLOW_API_URL), its region, the ingest and
 * partition queues (whose DLQs `batchflow redrive` moves back with SQS, signed by the caller), and which schema
 * migrations the database holds (`applied`) and which of this API's version it lacks (`missing`).
 */
export function stackRoute(info: StackInfo): RestRoute {
  return {
    method: 'GET',
    path: '/api/stack',
    async handle(ctx: RecoveryContext, request) {
      try {
        parse(z.object({ path: z.object({}), query: z.object({}) }), request);
        const schema = await schemaStatus(ctx.db);
        return { status: 200, body: {
            uploadBucket: info.uploadBucket ?? null,
            region: info.region ?? null,
            queues: { ingest: info.queues?.ingest ?? null, partitions: info.queues?.partitions ?? null },
            schema: { applied: schema.applied, missing: schema.missing } } };
      } catch (err) {
        if (err instanceof ApiError) return { status: err.status, body: { error: err.message } };
        throw err;
      }
    },
  };
}
