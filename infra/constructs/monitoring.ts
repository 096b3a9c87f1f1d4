import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { signals, type SignalName } from '../../lib/tune/signals.ts';
import type { BatchflowFunction } from './batchflowFunction.ts';

export interface MonitoringProps {
  readonly dashboardName: string;
  /** Queues by name; their DLQs are watched too. */
  readonly queues: Readonly<Record<string, Queue>>;
  /** The queue whose oldest message says whether the processors keep up. */
  readonly partitionQueue: Queue;
  readonly functions: readonly BatchflowFunction[];
  readonly processor: BatchflowFunction;
  readonly oldestPartitionAgeSeconds: number;
  /** Subscribed to the alarm topic when given. */
  readonly alarmEmail?: string;
}

const PERIOD = Duration.minutes(1);

/**
 * Alarms on what needs a person (a dead-lettered message, a backlog that ages, function errors
 * and throttles), sent to one encrypted SNS topic, and a dashboard of throughput, latency, queue
 * depth, errors and concurrency. The batchflow metrics come from the tuner's signal catalogue, so
 * the dashboard shows what the tuner reads.
 */
export class Monitoring extends Construct {
  public readonly topic: Topic;
  public readonly alarms: Alarm[] = [];
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = this.createTopic();
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    this.addQueueAlarms(props);
    this.addFunctionAlarms(props.functions);
    this.dashboard = this.createDashboard(props);
  }

  /** The console address of the dashboard. */
  dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  private createTopic(): Topic {
    // CloudWatch can publish to an encrypted topic only with a customer managed key that lets it
    // use the key; the AWS managed SNS key cannot grant that.
    const key = new Key(this, 'AlarmTopicKey', { enableKeyRotation: true, description: 'batchflow alarm topic' });
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    return new Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true, displayName: 'batchflow alarms' });
  }

  private addQueueAlarms(props: MonitoringProps): void {
    for (const [name, queue] of Object.entries(props.queues)) {
      const dlq = queue.deadLetterQueue!.queue;
      this.alarm(`${cap(name)}DeadLetters`, dlq.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }), {
        threshold: 0,
        description: `messages dead-lettered from the ${name} queue: they failed ${queue.deadLetterQueue!.maxReceiveCount} times; inspect and redrive them`,
      });
    }
    this.alarm('PartitionBacklogAge', props.partitionQueue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum' }), {
      threshold: props.oldestPartitionAgeSeconds,
      evaluationPeriods: 5,
      description: `the oldest partition message is older than ${props.oldestPartitionAgeSeconds} s: the processors do not keep up (see the tuner's log and the dashboard)`,
    });
  }

  private addFunctionAlarms(functions: readonly BatchflowFunction[]): void {
    for (const fn of functions) {
      const id = cap(fn.name);
      this.alarm(`${id}Errors`, fn.function.metricErrors({ period: PERIOD, statistic: 'Sum' }), {
        threshold: 0,
        description: `the ${fn.name} function failed; its log group has the error`,
      });
      this.alarm(`${id}Throttles`, fn.function.metricThrottles({ period: PERIOD, statistic: 'Sum' }), {
        threshold: 0,
        evaluationPeriods: 3,
        description: `Lambda throttled the ${fn.name} function: raise its reserved concurrency or the account quota`,
      });
    }
  }

  private alarm(id: string, metric: IMetric, options: { threshold: number; evaluationPeriods?: number; description: string }): void {
    const alarm = new Alarm(this, id, {
      metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      // No datapoint means nothing happened (no errors, empty queue).
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
  }

  private createDashboard(props: MonitoringProps): Dashboard {
    const processorName = props.processor.function.functionName;
    const ours = (name: SignalName, label: string, statistic?: string): Metric =>
      new Metric({
        namespace: signals[name].namespace,
        metricName: signals[name].metricName,
        dimensionsMap: { [signals[name].dimension]: processorName },
        statistic: statistic ?? signals[name].stat,
        period: PERIOD,
        label,
      });
    const perFunction = (metric: (fn: BatchflowFunction) => IMetric) => props.functions.map(metric);
    const queueMetrics = Object.entries(props.queues).flatMap(([name, q]) => [
      q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: `${name} visible` }),
      q.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD, statistic: 'Maximum', label: `${name} in flight` }),
      q.deadLetterQueue!.queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: `${name} DLQ` }),
    ]);
    const dashboard = new Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName, defaultInterval: Duration.hours(3) });
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Throughput (records/min)',
        left: [ours('recordsProcessed', 'processed'), ours('recordsRejected', 'rejected')],
        right: [new MathExpression({ expression: 'bytes / 1048576', usingMetrics: { bytes: ours('bytesRead', 'bytes') }, label: 'MiB read', period: PERIOD })],
        width: 12,
      }),
      new GraphWidget({
        title: 'Latency (ms)',
        left: [
          ours('partitionMs', 'partition p50', 'p50'),
          ours('partitionMs', 'partition p90', 'p90'),
          ours('parseMs', 'parse+aggregate avg'),
          ours('mergeMs', 'database avg'),
          ours('lockWaitMs', 'lock wait avg'),
        ],
        right: [props.partitionQueue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum', label: 'oldest partition (s)' })],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({ title: 'Queue depth', left: queueMetrics, width: 8 }),
      new GraphWidget({
        title: 'Errors',
        left: perFunction((fn) => fn.function.metricErrors({ period: PERIOD, statistic: 'Sum', label: `${fn.name} errors` })),
        right: [
          ...perFunction((fn) => fn.function.metricThrottles({ period: PERIOD, statistic: 'Sum', label: `${fn.name} throttles` })),
          ours('dbConnectionErrors', 'database connection errors'),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'Concurrency',
        left: perFunction((fn) => fn.function.metric('ConcurrentExecutions', { period: PERIOD, statistic: 'Maximum', label: fn.name })),
        width: 8,
      }),
    );
    return dashboard;
  }
}

function cap(name: string): string {
  return name[0]!.toUpperCase() + name.slice(1);
}
