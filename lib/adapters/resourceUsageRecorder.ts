import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MiddlewareObj, Request } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Db } from '../store/db.ts';
import { insertResourceUsage } from '../store/resourceUsage.ts';

/** The partition queue's approximate counts. */
export type QueueDepth = () => Promise<{ visible: number; inFlight: number }>;

/** What the recorder needs; everything else it measures itself. */
export interface ResourceUsageOptions {
  readonly db: Db;
  /** The topology name the rows carry (splitter, processor, analytics, compactor). */
  readonly function: string;
  /** AWS_LAMBDA_FUNCTION_MEMORY_SIZE, when the runtime sets it. */
  readonly memoryMb: number | undefined;
  readonly poolCap: number;
  /** Where the queue's depth comes from; functions without read access to it leave it out. */
  readonly queueDepth?: QueueDepth;
  readonly logger: { warn(message: string, extra: { error: Error }): void };
  /** @default 60_000: GetQueueAttributes per invocation would be an SQS request per partition. */
  readonly sampleEveryMs?: number;
}

const defaults = { sampleEveryMs: 60_000 };

/** The partition queue's ApproximateNumberOfMessages and …NotVisible (GetQueueAttributes). */
export function sqsQueueDepth(sqs: SQSClient, queueUrl: string): QueueDepth {
  return async () => {
    const out = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    return { visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0), inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) };
  };
}

interface Started {
  readonly at: Date;
  readonly t0: number;
  readonly queue: Promise<{ visible: number; inFlight: number } | undefined> | undefined;
}

/**
 * A middy middleware that stores one resource_usage row per invocation, after the handler (or
 * its error): duration, the memory high-water mark, connections in use (read by the insert), and
 * — at most once per `sampleEveryMs` per container — the queue's depth, fetched while the handler
 * runs. Recording never fails the invocation: a failed insert or sample is logged and dropped.
 *
 * @example
 * middy().use(resourceUsageRecorder({ db, function: 'processor', memoryMb, poolCap: 2, logger, queueDepth: sqsQueueDepth(sqs, url) }))
 */
export function resourceUsageRecorder(opts: ResourceUsageOptions): MiddlewareObj<unknown, unknown, Error, Context> {
  const options = { ...defaults, ...opts };
  const started = new WeakMap<object, Started>();
  let lastSample = Number.NEGATIVE_INFINITY;

  const before = (request: Request<unknown, unknown, Error, Context>) => {
    const t0 = performance.now();
    let queue: Started['queue'];
    if (options.queueDepth && t0 - lastSample >= options.sampleEveryMs) {
      lastSample = t0;
      queue = options.queueDepth().catch((error: Error) => {
        options.logger.warn('could not sample the queue depth', { error });
        return undefined;
      });
    }
    started.set(request, { at: new Date(), t0, queue });
  };

  const record = async (request: Request<unknown, unknown, Error, Context>, succeeded: boolean) => {
    const start = started.get(request);
    if (!start) return;
    started.delete(request);
    try {
      const durationMs = performance.now() - start.t0;
      const depth = await start.queue;
      await insertResourceUsage(options.db, {
        function: options.function,
        requestId: request.context?.awsRequestId ?? 'unknown',
        startedAt: start.at,
        durationMs,
        succeeded,
        // maxRSS is in KiB, and it is the process's peak since it started: on Lambda, the
        // container's over every invocation it served, not this one's alone.
        // https://nodejs.org/api/process.html#processresourceusage
        maxRssMib: process.resourceUsage().maxRSS / 1024,
        memoryMb: options.memoryMb ?? null,
        poolCap: options.poolCap,
        queueVisible: depth?.visible ?? null,
        queueInFlight: depth?.inFlight ?? null,
      });
    } catch (error) {
      options.logger.warn('could not record resource usage', { error: error as Error });
    }
  };

  return {
    before,
    after: (request) => record(request, true),
    // Nothing set on the request: the error goes on to the next middleware and to Lambda.
    onError: (request) => record(request, false),
  };
}
