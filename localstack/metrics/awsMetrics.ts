import type { CloudWatchClient, MetricDatum } from '@aws-sdk/client-cloudwatch';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { publishMetrics, type MetricDataGroup } from '../../lib/adapters/metricsPublisher.ts';
import { signals, type SignalName } from '../../lib/tune/signals.ts';

/** What one function did since the previous publication. */
export interface FunctionActivity {
  /** Invocations that ended (Lambda counts an invocation when it ends). */
  readonly invocations: number;
  /** Of which the function failed: threw, crashed, timed out, or could not init. */
  readonly errors: number;
  /** Run time of each ended invocation, init excluded. */
  readonly durationsMs: readonly number[];
  /** The most invocations in flight at once. */
  readonly maxInFlight: number;
}

/** A function as the publisher sees it: its name, its queue, what it did. */
export interface MeteredFunction {
  /** The FunctionName dimension: the physical name. */
  readonly name: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  /** Activity since the previous call (the counters restart). */
  takeActivity(): FunctionActivity;
  /** The SentTimestamp of the oldest message received and not yet finished, if any. */
  oldestInFlightSentMs(): number | undefined;
}

/** A queue's state when published. */
export interface QueueReading {
  /** ApproximateNumberOfMessages: visible messages. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: in flight, or waiting out a visibility timeout. */
  readonly notVisible: number;
  /** The oldest message's SentTimestamp when known (see `queueMetricData`). */
  readonly oldestSentMs?: number;
}

export interface AwsMetricsOptions {
  readonly cloudWatch: CloudWatchClient;
  readonly sqs: SQSClient;
  readonly functions: readonly MeteredFunction[];
  /** How often to publish. */
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

export interface AwsMetrics {
  /** Queues datapoints published with the next publication (the functions' EMF metrics). */
  add(groups: readonly MetricDataGroup[]): void;
  /** Publishes now. Never rejects: failures are logged. */
  flush(): Promise<void>;
  /** Stops the timer after a last publication. */
  stop(): Promise<void>;
}

/**
 * Publishes, every `intervalMs`, the AWS-side metrics that the local runtime plays, to the
 * endpoint's CloudWatch with the names, units and dimensions AWS uses, so the tuner reads them with
 * the same GetMetricData code as on AWS: per function (AWS/Lambda, FunctionName) Invocations,
 * Errors, Throttles, Duration and ConcurrentExecutions; per queue (AWS/SQS, QueueName)
 * ApproximateNumberOfMessagesVisible and ApproximateAgeOfOldestMessage. Plus whatever `add` queued.
 * A failed publication is logged and its datapoints dropped; the runtime goes on.
 * https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
 */
export function startAwsMetrics(options: AwsMetricsOptions): AwsMetrics {
  let pending: MetricDataGroup[] = [];
  let publishing: Promise<void> = Promise.resolve();

  const publish = async () => {
    const at = new Date();
    const groups = pending;
    pending = [];
    for (const fn of options.functions) groups.push(...lambdaMetricData(fn.name, fn.takeActivity(), at));
    for (const [queueUrl, queueArn] of new Map(options.functions.map((fn) => [fn.queueUrl, fn.queueArn]))) {
      const inFlight = options.functions
        .filter((fn) => fn.queueUrl === queueUrl)
        .map((fn) => fn.oldestInFlightSentMs())
        .filter((t): t is number => t !== undefined);
      try {
        const reading = await readQueue(options.sqs, queueUrl, inFlight.length > 0 ? Math.min(...inFlight) : undefined);
        groups.push(...queueMetricData(queueName(queueArn), reading, at));
      } catch (err) {
        options.log(`metrics: reading ${queueName(queueArn)} failed: ${(err as Error).message}`);
      }
    }
    try {
      await publishMetrics(options.cloudWatch, groups);
    } catch (err) {
      const count = groups.reduce((n, g) => n + g.data.length, 0);
      options.log(`metrics: publishing failed, ${count} datapoint(s) dropped: ${(err as Error).message}`);
    }
  };
  // One publication at a time; a tick that finds one running waits for it.
  const flush = () => (publishing = publishing.then(publish));

  const timer = setInterval(() => void flush(), options.intervalMs);
  timer.unref();
  return {
    add(groups) {
      pending.push(...groups);
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}

/**
 * A function's AWS/Lambda datapoints for one interval, stamped `at`; none for an idle interval,
 * as Lambda publishes nothing for a function that did not run. Throttles is always 0: the runtime
 * never refuses an invocation, it receives no more than the concurrency allows.
 */
export function lambdaMetricData(functionName: string, activity: FunctionActivity, at: Date): MetricDataGroup[] {
  if (activity.invocations === 0 && activity.maxInFlight === 0) return [];
  const dimensions = [{ Name: 'FunctionName', Value: functionName }];
  const datum = (name: SignalName, value: number | readonly number[]): MetricDatum => ({
    MetricName: signals[name].metricName,
    Dimensions: dimensions,
    Timestamp: at,
    Unit: signals[name].unit,
    ...(typeof value === 'number' ? { Value: value } : { Values: [...value] }),
  });
  const data = [
    datum('invocations', activity.invocations),
    datum('errors', activity.errors),
    datum('throttles', 0),
    datum('concurrency', activity.maxInFlight),
    ...(activity.durationsMs.length > 0 ? [datum('durationMs', activity.durationsMs)] : []),
  ];
  return [{ namespace: signals.invocations.namespace, data }];
}

/**
 * A queue's AWS/SQS datapoints, stamped `at`. SQS computes ApproximateAgeOfOldestMessage itself and
 * moto does not have it, so it is approximated: the age of the oldest message the runtime holds in
 * flight — moto delivers a standard queue's messages in send order, so while the runtime is busy
 * (the case that matters: a backlog) that is the oldest message in the queue; 0 when the queue is
 * empty; and no datapoint when messages wait but none is in flight (the runtime is about to receive
 * them, or they wait out a visibility timeout after failing).
 */
export function queueMetricData(queueName: string, reading: QueueReading, at: Date): MetricDataGroup[] {
  const dimensions = [{ Name: 'QueueName', Value: queueName }];
  const datum = (name: SignalName, value: number): MetricDatum => ({
    MetricName: signals[name].metricName,
    Dimensions: dimensions,
    Timestamp: at,
    Unit: signals[name].unit,
    Value: value,
  });
  const data = [datum('queueDepth', reading.visible)];
  if (reading.oldestSentMs !== undefined) data.push(datum('oldestMessageAgeSeconds', Math.max(0, (at.getTime() - reading.oldestSentMs) / 1000)));
  else if (reading.visible + reading.notVisible === 0) data.push(datum('oldestMessageAgeSeconds', 0));
  return [{ namespace: signals.queueDepth.namespace, data }];
}

async function readQueue(sqs: SQSClient, queueUrl: string, oldestSentMs: number | undefined): Promise<QueueReading> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    notVisible: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    ...(oldestSentMs !== undefined ? { oldestSentMs } : {}),
  };
}

/** The queue's name: the last part of its ARN. */
function queueName(queueArn: string): string {
  return queueArn.slice(queueArn.lastIndexOf(':') + 1);
}
