/**
 * The signals the tuner reads and the levers it moves: one catalogue, used by the functions that
 * publish the custom metrics, by the local runtime that publishes the AWS-side ones, by the
 * CloudWatch reader (GetMetricData) and by the control law. Pure data: no SDK, no I/O.
 */

/** The CloudWatch namespace of batchflow's own (EMF) metrics. */
export const METRICS_NAMESPACE = 'batchflow';

/** Which resource a metric's dimension names: the partition queue, or a function. */
export type SignalSource = 'partitionQueue' | 'processor' | 'splitter';

/** Where one signal lives in CloudWatch and which statistic the tuner reads per period. */
export interface SignalSpec {
  readonly namespace: string;
  readonly metricName: string;
  /**
   * The dimension that names the resource; its value is the physical name, known at run time. Ours
   * use `service`: Powertools Metrics always adds that dimension, and CloudWatch matches dimension
   * sets exactly, so the service name is the function's physical name and is the only dimension.
   */
  readonly dimension: 'QueueName' | 'FunctionName' | 'service';
  readonly source: SignalSource;
  readonly stat: 'Sum' | 'Average' | 'Maximum';
  readonly unit: 'Count' | 'Milliseconds' | 'Seconds' | 'Bytes';
}

/**
 * Every signal the tuner reads. The AWS/* ones are published by AWS on AWS and by the local runtime
 * locally; the batchflow ones by the functions themselves (EMF through Powertools Metrics).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
 * https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
 */
export const signals = {
  queueDepth: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimension: 'QueueName', source: 'partitionQueue', stat: 'Maximum', unit: 'Count' },
  oldestMessageAgeSeconds: { namespace: 'AWS/SQS', metricName: 'ApproximateAgeOfOldestMessage', dimension: 'QueueName', source: 'partitionQueue', stat: 'Maximum', unit: 'Seconds' },
  invocations: { namespace: 'AWS/Lambda', metricName: 'Invocations', dimension: 'FunctionName', source: 'processor', stat: 'Sum', unit: 'Count' },
  errors: { namespace: 'AWS/Lambda', metricName: 'Errors', dimension: 'FunctionName', source: 'processor', stat: 'Sum', unit: 'Count' },
  throttles: { namespace: 'AWS/Lambda', metricName: 'Throttles', dimension: 'FunctionName', source: 'processor', stat: 'Sum', unit: 'Count' },
  durationMs: { namespace: 'AWS/Lambda', metricName: 'Duration', dimension: 'FunctionName', source: 'processor', stat: 'Average', unit: 'Milliseconds' },
  concurrency: { namespace: 'AWS/Lambda', metricName: 'ConcurrentExecutions', dimension: 'FunctionName', source: 'processor', stat: 'Maximum', unit: 'Count' },
  recordsProcessed: { namespace: METRICS_NAMESPACE, metricName: 'RecordsProcessed', dimension: 'service', source: 'processor', stat: 'Sum', unit: 'Count' },
  recordsRejected: { namespace: METRICS_NAMESPACE, metricName: 'RecordsRejected', dimension: 'service', source: 'processor', stat: 'Sum', unit: 'Count' },
  bytesRead: { namespace: METRICS_NAMESPACE, metricName: 'BytesRead', dimension: 'service', source: 'processor', stat: 'Sum', unit: 'Bytes' },
  partitionMs: { namespace: METRICS_NAMESPACE, metricName: 'PartitionDuration', dimension: 'service', source: 'processor', stat: 'Average', unit: 'Milliseconds' },
  /** Pure work: parse and aggregate, between reading from S3 (pre) and the merge (post). */
  parseMs: { namespace: METRICS_NAMESPACE, metricName: 'ParseAggregateTime', dimension: 'service', source: 'processor', stat: 'Average', unit: 'Milliseconds' },
  /** Post: the merge transaction, lock waits included. */
  mergeMs: { namespace: METRICS_NAMESPACE, metricName: 'DatabaseTime', dimension: 'service', source: 'processor', stat: 'Average', unit: 'Milliseconds' },
  lockWaitMs: { namespace: METRICS_NAMESPACE, metricName: 'LockWaitTime', dimension: 'service', source: 'processor', stat: 'Average', unit: 'Milliseconds' },
  rowsMerged: { namespace: METRICS_NAMESPACE, metricName: 'RowsMerged', dimension: 'service', source: 'processor', stat: 'Sum', unit: 'Count' },
  dbConnectionErrors: { namespace: METRICS_NAMESPACE, metricName: 'DatabaseConnectionErrors', dimension: 'service', source: 'processor', stat: 'Sum', unit: 'Count' },
} as const satisfies Record<string, SignalSpec>;

export type SignalName = keyof typeof signals;

/** One signal's datapoints over the observed window, one per period, oldest first; gaps are absent. */
export interface SignalSeries {
  readonly timestamps: readonly number[];
  readonly values: readonly number[];
}

/** What the tuner observed: every signal over the same window, cut into periods of `periodSeconds`. */
export interface Observation {
  readonly from: number;
  readonly to: number;
  readonly periodSeconds: number;
  readonly series: Readonly<Record<SignalName, SignalSeries>>;
}

/** The levers the tuner moves. */
export interface TunableSettings {
  /** The processor mapping's BatchSize (partitions per invocation). */
  readonly batchSize: number;
  /** The processor mapping's ScalingConfig.MaximumConcurrency. */
  readonly maxConcurrency: number;
  /** The processor's reserved concurrency (null: unreserved). */
  readonly reservedConcurrency: number | null;
  /** The splitter's target partition size in bytes. */
  readonly partitionBytes: number;
}

export type TunableParameter = keyof TunableSettings;

/** One recommended change (or a reasoned "keep"), as `batchflow tune --json` prints it. */
export interface Recommendation {
  readonly parameter: TunableParameter;
  readonly currentValue: number | null;
  readonly recommendedValue: number | null;
  readonly reason: string;
  readonly expectedImprovement: string;
}
