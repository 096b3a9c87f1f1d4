import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';

/**
 * One warm Lambda container: imports the function's module once (the cold start), then runs one
 * invocation at a time for the pool in `workerPool.ts`. Runs in a worker thread, bundled by esbuild
 * as the functions are (`functionBundle.ts`); `entry` is the function's bundle.
 */

/** What the pool sends: one invocation. */
export interface InvokeRequest {
  readonly id: number;
  readonly event: unknown;
  readonly context: ContextFields;
}

/** The serialisable part of a Lambda context (the rest is rebuilt here). */
export interface ContextFields {
  readonly functionName: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** Epoch ms when Lambda would stop the invocation. */
  readonly deadlineMs: number;
}

/** What the worker answers: ready once, then one result per invocation. */
export type WorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly error: string };

export interface WorkerInit {
  /** URL of the module exporting `handler`. */
  readonly entry: string;
}

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const port = parentPort!;
const { entry } = workerData as WorkerInit;
const module = (await import(entry)) as { handler?: unknown };
if (typeof module.handler !== 'function') throw new Error(`${entry} does not export a handler function`);
const handler = module.handler as Handler;

port.on('message', (request: InvokeRequest) => void invoke(request));
port.postMessage({ type: 'ready' } satisfies WorkerReply);

async function invoke({ id, event, context }: InvokeRequest): Promise<void> {
  try {
    const value = await handler(event, lambdaContext(context));
    port.postMessage({ type: 'result', id, ok: true, value } satisfies WorkerReply);
  } catch (err) {
    // Also reached when `value` cannot be cloned (a function, a class instance with a socket...).
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    port.postMessage({ type: 'result', id, ok: false, error } satisfies WorkerReply);
  }
}

function lambdaContext(fields: ContextFields): Context {
  const unsupported = () => {
    throw new Error('callback-style completion (done/fail/succeed) is not supported: return a promise');
  };
  return {
    ...fields,
    functionVersion: '$LATEST',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, fields.deadlineMs - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
