import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { createCloudWatchClient, createSqsClient } from '../../../lib/adapters/aws.ts';
import { startAwsMetrics, type AwsMetrics, type FunctionActivity, type MeteredFunction } from '../../metrics/awsMetrics.ts';
import { emfToMetricData } from '../../metrics/emf.ts';
import { normaliseSettings, SQS_MAX_RECEIVE, topologyMappings, type MappingSettings, type MappingSettingsSource } from './mappingSettings.ts';
import { readBatchResponse, toSqsEvent } from './sqsEvent.ts';
import { createWorkerPool, type WorkerPool } from '../../runtime/workerPool.ts';

/** A function as the SQS poller runs it: its code, its queue, its settings. */
export interface LocalFunction {
  /** Physical name (context.functionName, AWS_LAMBDA_FUNCTION_NAME). */
  readonly name: string;
  /** Key under which the mapping settings source knows it (topology's function name). */
  readonly key: string;
  /** Module exporting `handler(event, context)`. */
  readonly entry: URL;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** The function's whole environment. */
  readonly environment: Readonly<Record<string, string>>;
}

export interface SqsPollerOptions {
  readonly functions: readonly LocalFunction[];
  readonly endpoint: string;
  readonly region: string;
  /** @default topologyMappings */
  readonly mappings?: MappingSettingsSource;
  /** How often the mapping settings are read again. @default 5_000 */
  readonly settingsRefreshMs?: number;
  /**
   * The most invocations of one function in flight at once, below its mapping's maxConcurrency:
   * on AWS each invocation has CPU of its own, on one machine they share its cores (see
   * localConcurrency in stack.ts). @default no limit but the mapping's
   */
  readonly maxConcurrentInvocations?: number;
  /**
   * How often the AWS-side metrics (AWS/Lambda, AWS/SQS) and the functions' EMF metrics are
   * published to the endpoint's CloudWatch (see awsMetrics.ts); 0 publishes nothing and leaves the
   * functions' stdout alone. @default 10_000
   */
  readonly metricsIntervalMs?: number;
  /** Long-poll wait per receive (SQS allows 0-20). @default 20 */
  readonly waitTimeSeconds?: number;
  /** One line per notable event (failures, settings changes). @default no output */
  readonly log?: (line: string) => void;
}

/** Counters of one function since start. */
export interface FunctionStats {
  invocations: number;
  coldStarts: number;
  succeededRecords: number;
  failedRecords: number;
  /** Invocations that failed whole: thrown, crashed, timed out, or an invalid response. */
  failedInvocations: number;
  inFlight: number;
  maxInFlight: number;
  settings: MappingSettings;
}

export interface SqsPoller {
  readonly stats: Readonly<Record<string, Readonly<FunctionStats>>>;
  /**
   * Kills a worker of the function (by physical name) that is inside an invocation: that
   * invocation fails as a crashed Lambda's does, so its messages return after the visibility
   * timeout. For fault-injection tests (test/chaos); false when none is busy.
   */
  killBusyWorker(functionName: string): boolean;
  /** Publishes the metrics gathered so far now (tests; the timer does it otherwise). */
  flushMetrics(): Promise<void>;
  /**
   * Stops receiving, waits up to `drainTimeoutMs` for invocations in flight (then abandons them:
   * their messages return after the visibility timeout), and stops the workers.
   */
  stop(options?: { readonly drainTimeoutMs?: number }): Promise<void>;
}

/**
 * Plays the Lambda service's SQS event source mappings: per function, one poller long-polls the
 * queue, receives no more than the free concurrency allows, and invokes the handler in worker
 * threads (`maxConcurrency` at most in flight); then, as Lambda does with ReportBatchItemFailures,
 * deletes the records that did not fail and leaves the rest to reappear after the visibility
 * timeout (the queue's RedrivePolicy moves them to the DLQ after maxReceiveCount).
 *
 * One poller per queue rather than one per slot: moto's ReceiveMessage is not atomic, and
 * concurrent receives on one queue occasionally return the same message twice.
 *
 * @example
 * const poller = await startSqsPoller({ functions, endpoint, region: 'us-east-1' });
 * await poller.stop();
 */
export async function startSqsPoller(options: SqsPollerOptions): Promise<SqsPoller> {
  const log = options.log ?? (() => {});
  const mappings = options.mappings ?? topologyMappings;
  const sqs = createSqsClient({ endpoint: options.endpoint, region: options.region });
  const metricsIntervalMs = options.metricsIntervalMs ?? 10_000;
  const cloudWatch = metricsIntervalMs > 0 ? createCloudWatchClient({ endpoint: options.endpoint, region: options.region }) : undefined;
  let metrics: AwsMetrics | undefined;
  // What CloudWatch Logs does on AWS with the EMF lines a function prints; locally they are kept
  // off the console, where one line per partition would drown everything else.
  const onStdoutLine = cloudWatch
    ? (line: string) => {
        const groups = emfToMetricData(line);
        if (groups.length === 0) return false;
        metrics?.add(groups);
        return true;
      }
    : undefined;
  const abort = new AbortController();
  const running = options.functions.map(async (fn) => {
    const settings = normaliseSettings(await mappings.read(fn.key));
    return new FunctionRunner(fn, settings, sqs, options, abort.signal, log, onStdoutLine);
  });
  const runners = await Promise.all(running);
  if (cloudWatch) metrics = startAwsMetrics({ cloudWatch, sqs, functions: runners, intervalMs: metricsIntervalMs, log });

  const refresh = setInterval(() => {
    for (const runner of runners) {
      mappings.read(runner.fn.key).then(
        (s) => runner.applySettings(normaliseSettings(s)),
        (err: Error) => log(`${runner.fn.name}: keeping mapping settings, read failed: ${err.message}`),
      );
    }
  }, options.settingsRefreshMs ?? 5_000);
  refresh.unref();

  const polling = runners.map((r) => r.poll());
  return {
    stats: Object.fromEntries(runners.map((r) => [r.fn.name, r.stats])),
    killBusyWorker: (functionName) => runners.find((r) => r.fn.name === functionName)?.pool.killBusyWorker() ?? false,
    flushMetrics: async () => metrics?.flush(),
    async stop({ drainTimeoutMs = 30_000 } = {}) {
      clearInterval(refresh);
      abort.abort();
      await Promise.all(polling);
      await Promise.all(runners.map((r) => r.drain(drainTimeoutMs)));
      await Promise.all(runners.map((r) => r.pool.close()));
      await metrics?.stop();
      cloudWatch?.destroy();
      sqs.destroy();
    },
  };
}

class FunctionRunner implements MeteredFunction {
  readonly pool: WorkerPool;
  readonly stats: FunctionStats;
  readonly #inFlight = new Set<Promise<void>>();
  /** SentTimestamp of each message in flight, by message id. */
  readonly #sentMs = new Map<string, number>();
  #activity: { invocations: number; errors: number; durationsMs: number[]; maxInFlight: number };
  #wake: () => void = () => {};

  constructor(
    readonly fn: LocalFunction,
    settings: MappingSettings,
    private readonly sqs: SQSClient,
    private readonly options: SqsPollerOptions,
    private readonly signal: AbortSignal,
    private readonly log: (line: string) => void,
    onStdoutLine?: (line: string) => boolean,
  ) {
    this.pool = createWorkerPool({ ...fn, region: options.region, ...(onStdoutLine ? { onStdoutLine } : {}) });
    this.stats = { invocations: 0, coldStarts: 0, succeededRecords: 0, failedRecords: 0, failedInvocations: 0, inFlight: 0, maxInFlight: 0, settings };
    this.#activity = { invocations: 0, errors: 0, durationsMs: [], maxInFlight: 0 };
    signal.addEventListener('abort', () => this.#wake());
  }

  get name(): string {
    return this.fn.name;
  }

  get queueUrl(): string {
    return this.fn.queueUrl;
  }

  get queueArn(): string {
    return this.fn.queueArn;
  }

  takeActivity(): FunctionActivity {
    const activity = this.#activity;
    this.#activity = { invocations: 0, errors: 0, durationsMs: [], maxInFlight: this.#inFlight.size };
    return activity;
  }

  oldestInFlightSentMs(): number | undefined {
    let oldest: number | undefined;
    for (const sent of this.#sentMs.values()) if (oldest === undefined || sent < oldest) oldest = sent;
    return oldest;
  }

  applySettings(settings: MappingSettings): void {
    const old = this.stats.settings;
    if (old.batchSize === settings.batchSize && old.maxConcurrency === settings.maxConcurrency) return;
    this.log(`${this.fn.name}: batchSize ${old.batchSize} → ${settings.batchSize}, maxConcurrency ${old.maxConcurrency} → ${settings.maxConcurrency}`);
    this.stats.settings = settings;
    this.pool.trim(settings.maxConcurrency);
    this.#wake();
  }

  /** Receives while there is free concurrency, until stopped. */
  async poll(): Promise<void> {
    while (!this.signal.aborted) {
      const { batchSize, maxConcurrency } = this.stats.settings;
      const free = Math.min(maxConcurrency, this.options.maxConcurrentInvocations ?? Infinity) - this.#inFlight.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const messages = await this.#receive(Math.min(SQS_MAX_RECEIVE, free * batchSize));
      for (let i = 0; i < messages.length; i += batchSize) this.#dispatch(messages.slice(i, i + batchSize));
    }
  }

  /** Waits for invocations in flight, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.#inFlight), timeout]);
    clearTimeout(timer);
  }

  async #receive(max: number): Promise<Message[]> {
    try {
      const { Messages } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.fn.queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: this.options.waitTimeSeconds ?? 20,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: this.signal },
      );
      return Messages ?? [];
    } catch (err) {
      if (this.signal.aborted) return [];
      this.log(`${this.fn.name}: receive failed, retrying in 1 s: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return [];
    }
  }

  #dispatch(messages: Message[]): void {
    for (const m of messages) {
      const sent = Number(m.Attributes?.SentTimestamp);
      if (m.MessageId && Number.isFinite(sent)) this.#sentMs.set(m.MessageId, sent);
    }
    const invocation = this.#invoke(messages).finally(() => {
      for (const m of messages) if (m.MessageId) this.#sentMs.delete(m.MessageId);
      this.#inFlight.delete(invocation);
      this.stats.inFlight = this.#inFlight.size;
      this.#wake();
    });
    this.#inFlight.add(invocation);
    this.stats.inFlight = this.#inFlight.size;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.#inFlight.size);
    this.#activity.maxInFlight = Math.max(this.#activity.maxInFlight, this.#inFlight.size);
  }

  async #invoke(messages: Message[]): Promise<void> {
    const event = toSqsEvent(messages, this.fn.queueArn, this.options.region);
    const outcome = await this.pool.invoke(event);
    this.stats.invocations++;
    if (outcome.coldStart) this.stats.coldStarts++;
    this.#activity.invocations++;
    // Lambda's Errors counts function errors only: an invalid batch response is not one.
    if (!outcome.ok) this.#activity.errors++;
    if (outcome.durationMs !== undefined) this.#activity.durationsMs.push(outcome.durationMs);
    const verdict = outcome.ok
      ? readBatchResponse(outcome.value, event.Records)
      : ({ kind: 'all-failed', reason: outcome.error } as const);
    if (verdict.kind === 'all-failed') {
      this.stats.failedInvocations++;
      this.stats.failedRecords += messages.length;
      this.log(`${this.fn.name} ${outcome.requestId}: ${messages.length} record(s) failed: ${verdict.reason}`);
      return;
    }
    this.stats.failedRecords += verdict.failed.size;
    this.stats.succeededRecords += messages.length - verdict.failed.size;
    const done = event.Records.filter((r) => !verdict.failed.has(r.messageId));
    if (done.length > 0) await this.#delete(done.map((r) => ({ Id: r.messageId, ReceiptHandle: r.receiptHandle })));
  }

  async #delete(entries: { Id: string; ReceiptHandle: string }[]): Promise<void> {
    try {
      const { Failed } = await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.fn.queueUrl, Entries: entries }));
      for (const f of Failed ?? []) this.log(`${this.fn.name}: delete failed (${f.Code}): ${f.Message}`);
    } catch (err) {
      this.log(`${this.fn.name}: delete failed, the records will be delivered again: ${(err as Error).message}`);
    }
  }
}
