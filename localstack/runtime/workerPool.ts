import { randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { functionSpec, resourceName, type AnyFunctionName } from '../../lib/topology.ts';
import { functionBundle } from './functionBundle.ts';
import type { ContextFields, InvokeRequest, WorkerInit, WorkerReply } from './lambdaWorker.ts';

/** A function as the pool runs it. */
export interface PooledFunction {
  /** Physical name, as in the context and AWS_LAMBDA_FUNCTION_NAME. */
  readonly name: string;
  /** URL of the module exporting `handler`. */
  readonly entry: URL;
  /** The function's environment, complete: workers see nothing else. */
  readonly environment: Readonly<Record<string, string>>;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly region: string;
  /**
   * Sees each line the function prints to stdout; returns true when it consumed the line (EMF
   * metrics), which then stays off this process's stdout. @default stdout not captured
   */
  readonly onStdoutLine?: (line: string) => boolean;
}

/** How an invocation ended: the handler's return value, or why there is none. */
export type InvocationOutcome = (
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: string }
) & {
  readonly requestId: string;
  readonly coldStart: boolean;
  /** The handler's run time, init excluded (Lambda's Duration); absent when init failed. */
  readonly durationMs?: number;
};

export interface WorkerPool {
  /** Runs one invocation on a warm worker (or a new one); never rejects. */
  invoke(event: unknown): Promise<InvocationOutcome>;
  /** Stops idle workers beyond `max` (after a lower maxConcurrency). */
  trim(max: number): void;
  /**
   * Kills one worker that is inside an invocation, as a Lambda container dies mid-invocation (out of
   * memory, a crash, the host going away): the invocation fails, its sockets close, and the next
   * invocation gets a fresh worker. For fault-injection tests (test/chaos); false when none is busy.
   */
  killBusyWorker(): boolean;
  /** Workers inside an invocation now. */
  readonly busy: number;
  /** Workers alive, busy or idle. */
  readonly size: number;
  /** Terminates every worker; invocations still running end as failures. */
  close(): Promise<void>;
}

/** Lambda gives a cold start 10 s; tsx compiling a module graph on a busy laptop needs more. */
const INIT_TIMEOUT_MS = 30_000;
const ACCOUNT = '123456789012';
/** The container's own code (the Lambda runtime's part), bundled like the functions it runs. */
const HARNESS = new URL('./lambdaWorker.ts', import.meta.url);

/**
 * The pool of one of the topology's functions, named and sized as the stack deploys it: its local
 * physical name, and the memory and timeout of its topology entry.
 */
export function topologyFunctionPool(
  name: AnyFunctionName,
  options: { readonly stage: string; readonly entry: URL; readonly environment: Readonly<Record<string, string>>; readonly region: string },
): WorkerPool {
  const spec = functionSpec(name);
  return createWorkerPool({
    name: resourceName(options.stage, spec.id),
    entry: options.entry,
    environment: options.environment,
    memoryMb: spec.memoryMb,
    timeoutSeconds: spec.timeoutSeconds,
    region: options.region,
  });
}

/**
 * Warm Lambda containers for one function: each a worker thread that imported the handler module
 * once and runs one invocation at a time. A worker whose handler crashes it, runs out of memory or
 * outlives the function's timeout is replaced by a fresh one on the next invocation.
 */
export function createWorkerPool(fn: PooledFunction): WorkerPool {
  const idle: Container[] = [];
  const all = new Set<Container>();

  const invoke = async (event: unknown): Promise<InvocationOutcome> => {
    const requestId = randomUUID();
    let container = idle.pop();
    const coldStart = !container;
    try {
      container ??= await startContainer(fn, all);
    } catch (err) {
      return { ok: false, error: `init failed: ${(err as Error).message}`, requestId, coldStart };
    }
    const started = performance.now();
    const outcome = await container.run(event, requestId);
    const durationMs = performance.now() - started;
    if (container.alive) idle.push(container);
    return { ...outcome, requestId, coldStart, durationMs };
  };

  return {
    invoke,
    trim(max) {
      while (all.size > max && idle.length > 0) void idle.shift()!.terminate();
    },
    killBusyWorker() {
      const victim = [...all].find((c) => c.busy);
      if (!victim) return false;
      void victim.terminate('worker killed mid-invocation (fault injection)');
      return true;
    },
    get size() {
      return all.size;
    },
    get busy() {
      return [...all].filter((c) => c.busy).length;
    },
    async close() {
      idle.length = 0;
      await Promise.all([...all].map((c) => c.terminate()));
    },
  };
}

interface Container {
  readonly alive: boolean;
  /** Inside an invocation. */
  readonly busy: boolean;
  run(event: unknown, requestId: string): Promise<{ ok: true; value: unknown } | { ok: false; error: string }>;
  terminate(reason?: string): Promise<void>;
}

async function startContainer(fn: PooledFunction, all: Set<Container>): Promise<Container> {
  const logStreamName = `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomBytes(16).toString('hex')}`;
  // The bundle is built on the first cold start after a change to the function's code.
  const [harness, entry] = await Promise.all([functionBundle(HARNESS), functionBundle(fn.entry)]);
  const worker = new Worker(harness, {
    workerData: { entry: entry.href } satisfies WorkerInit,
    execArgv: [],
    env: {
      ...fn.environment,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
    },
    // Lambda's memory setting as the heap limit: an out-of-memory handler kills its worker only.
    resourceLimits: { maxOldGenerationSizeMb: fn.memoryMb },
    stdout: fn.onStdoutLine !== undefined,
  });
  if (fn.onStdoutLine) captureLines(worker, fn.onStdoutLine);

  let alive = true;
  let current: { id: number; settle: (r: { ok: true; value: unknown } | { ok: false; error: string }) => void } | undefined;
  let nextId = 1;
  let died: (reason: string) => void = () => {};
  const dead = new Promise<string>((resolve) => (died = resolve));
  const die = (reason: string) => {
    if (!alive) return;
    alive = false;
    all.delete(container);
    current?.settle({ ok: false, error: reason });
    current = undefined;
    died(reason);
  };
  worker.on('error', (err) => die(`worker crashed: ${err.name}: ${err.message}`));
  worker.on('exit', (code) => die(`worker exited with code ${code}`));
  worker.on('message', (reply: WorkerReply) => {
    if (reply.type === 'result' && current?.id === reply.id) {
      current.settle(reply.ok ? { ok: true, value: reply.value } : { ok: false, error: reply.error });
      current = undefined;
    }
  });

  const container: Container = {
    get alive() {
      return alive;
    },
    get busy() {
      return current !== undefined;
    },
    run(event, requestId) {
      const id = nextId++;
      const timeoutMs = fn.timeoutSeconds * 1000;
      const context: ContextFields = {
        functionName: fn.name,
        invokedFunctionArn: `arn:aws:lambda:${fn.region}:${ACCOUNT}:function:${fn.name}`,
        memoryLimitInMB: String(fn.memoryMb),
        awsRequestId: requestId,
        logGroupName: `/aws/lambda/${fn.name}`,
        logStreamName,
        deadlineMs: Date.now() + timeoutMs,
      };
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          // Lambda stops a timed-out invocation's container; its next invocation is a cold start.
          die(`Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`);
          void worker.terminate();
        }, timeoutMs);
        current = { id, settle: (r) => (clearTimeout(timer), resolve(r)) };
        worker.postMessage({ id, event, context } satisfies InvokeRequest);
      });
    },
    async terminate(reason = 'worker stopped') {
      die(reason);
      await worker.terminate();
    },
  };
  all.add(container);

  const ready = new Promise<void>((resolve) =>
    worker.on('message', (reply: WorkerReply) => reply.type === 'ready' && resolve()),
  );
  let timer: NodeJS.Timeout | undefined;
  const tooSlow = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no ready after ${INIT_TIMEOUT_MS} ms`), INIT_TIMEOUT_MS)));
  const failure = await Promise.race([ready.then(() => undefined), dead, tooSlow]);
  clearTimeout(timer);
  if (failure !== undefined) {
    await container.terminate();
    throw new Error(failure);
  }
  return container;
}

/**
 * Hands each line of the worker's stdout to `onLine`, and passes on to this process's stdout the
 * lines it did not consume (EMF metrics go to CloudWatch, not the console).
 */
function captureLines(worker: Worker, onLine: (line: string) => boolean): void {
  const lines = createInterface({ input: worker.stdout, crlfDelay: Infinity });
  lines.on('line', (line) => {
    let consumed = false;
    try {
      consumed = onLine(line);
    } catch {
      // A consumer's failure must not stop the function's output.
    }
    if (!consumed) process.stdout.write(`${line}\n`);
  });
}
