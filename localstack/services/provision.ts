import {
  CreateBucketCommand,
  GetBucketNotificationConfigurationCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  type QueueConfiguration,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { createIamClient, createLambdaClient, createS3Client, createSqsClient } from '../../lib/adapters/aws.ts';
import { deadLetterId, resourceName, topology, type FunctionName, type QueueName } from '../../lib/topology.ts';
import { provisionFunctions, type ProvisionedFunction } from './lambdaFunctions.ts';

/** A queue's settings as provisioned (topology's, unless overridden). */
export interface QueueSettings {
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  readonly maxReceiveCount: number;
}

export interface ProvisionOptions {
  /** Prefix of every physical name: `batchflow-<stage>-...`. */
  readonly stage: string;
  readonly endpoint: string;
  readonly region: string;
  /** Per-queue changes to topology's settings (tests shorten the visibility timeout). */
  readonly queueOverrides?: Partial<Record<QueueName, Partial<QueueSettings>>>;
}

export interface ProvisionedQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly settings: QueueSettings;
  readonly deadLetter: { readonly name: string; readonly url: string; readonly arn: string };
}

export interface Provisioned {
  readonly bucket: string;
  readonly bucketArn: string;
  readonly queues: Record<QueueName, ProvisionedQueue>;
  /** Each queue-driven function with its (disabled) event source mapping. */
  readonly functions: Record<FunctionName, ProvisionedFunction>;
}

/**
 * Creates, or brings up to date, what `topology` describes at a local endpoint: the bucket, each
 * queue with its DLQ and redrive policy, each queue-driven function with its event source mapping
 * (disabled: see lambdaFunctions.ts), and the bucket's ObjectCreated notification for `uploads/` to
 * the ingest queue. Safe to re-run: queues are updated, functions and mappings kept as they are (the
 * tuner may have changed them), and the notification is only written when it differs (each write
 * makes moto send an `s3:TestEvent`).
 *
 * @example
 * const { bucket, queues } = await provision({ stage: 'dev', endpoint, region: 'us-east-1' });
 */
export async function provision(options: ProvisionOptions): Promise<Provisioned> {
  const clientOptions = { endpoint: options.endpoint, region: options.region };
  const sqs = createSqsClient(clientOptions);
  const s3 = createS3Client(clientOptions);
  const iam = createIamClient(clientOptions);
  const lambda = createLambdaClient(clientOptions);
  try {
    const names = Object.keys(topology.queues) as QueueName[];
    const queues = Object.fromEntries(
      await Promise.all(names.map(async (name) => [name, await provisionQueue(sqs, options, name)] as const)),
    ) as Record<QueueName, ProvisionedQueue>;
    const queueArns = Object.fromEntries(names.map((name) => [name, queues[name].arn])) as Record<QueueName, string>;
    const functions = await provisionFunctions({ stage: options.stage, iam, lambda, queueArns });

    const bucket = resourceName(options.stage, topology.bucket.id);
    const bucketArn = `arn:aws:s3:::${bucket}`;
    await createBucket(s3, bucket, options.region);
    await allowBucketToSend(sqs, queues.ingest, bucketArn);
    const wanted: QueueConfiguration = {
      Id: 'ingest-uploads',
      QueueArn: queues.ingest.arn,
      Events: ['s3:ObjectCreated:*'],
      // Rule names must be lowercase: moto answers 500 to `Prefix`.
      Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: topology.bucket.uploadPrefix }] } },
    };
    const current = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
    if (!sameNotification(current.QueueConfigurations ?? [], wanted)) {
      await s3.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: bucket,
          NotificationConfiguration: { QueueConfigurations: [wanted] },
        }),
      );
    }
    return { bucket, bucketArn, queues, functions };
  } finally {
    sqs.destroy();
    s3.destroy();
    iam.destroy();
    lambda.destroy();
  }
}

async function provisionQueue(sqs: SQSClient, options: ProvisionOptions, name: QueueName): Promise<ProvisionedQueue> {
  const spec = topology.queues[name];
  const settings: QueueSettings = {
    visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds,
    retentionSeconds: spec.retentionSeconds,
    maxReceiveCount: spec.maxReceiveCount,
    ...options.queueOverrides?.[name],
  };
  // A DLQ keeps its messages for SQS's maximum, 14 days, so nothing expires before anyone looks.
  const dlqName = resourceName(options.stage, deadLetterId(spec.id));
  const dlqUrl = await upsertQueue(sqs, dlqName, { MessageRetentionPeriod: String(14 * 24 * 3600) });
  const dlqArn = await queueArn(sqs, dlqUrl);

  const queueName = resourceName(options.stage, spec.id);
  const url = await upsertQueue(sqs, queueName, {
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(settings.retentionSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: settings.maxReceiveCount }),
  });
  return {
    name: queueName,
    url,
    arn: await queueArn(sqs, url),
    settings,
    deadLetter: { name: dlqName, url: dlqUrl, arn: dlqArn },
  };
}

/** Creates the queue, or sets the attributes of the existing one (CreateQueue refuses changed ones). */
async function upsertQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    return QueueUrl!;
  } catch (err) {
    if (!(err instanceof QueueDoesNotExist)) throw err;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return QueueUrl!;
  }
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return Attributes!.QueueArn!;
}

async function createBucket(s3: ReturnType<typeof createS3Client>, bucket: string, region: string): Promise<void> {
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        // us-east-1 is the one region that refuses an explicit LocationConstraint.
        ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
      }),
    );
  } catch (err) {
    if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
  }
  if (topology.bucket.versioned) {
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  }
}

/**
 * The ingest queue's policy letting the bucket send to it: moto does not check it, LocalStack and
 * AWS do. https://docs.aws.amazon.com/AmazonS3/latest/userguide/ways-to-add-notification-config-to-bucket.html
 */
async function allowBucketToSend(sqs: SQSClient, queue: ProvisionedQueue, bucketArn: string): Promise<void> {
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 's3.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queue.arn,
        Condition: { ArnLike: { 'aws:SourceArn': bucketArn } },
      },
    ],
  };
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: JSON.stringify(policy) } }));
}

function sameNotification(current: readonly QueueConfiguration[], wanted: QueueConfiguration): boolean {
  if (current.length !== 1) return false;
  const [c] = current;
  const rules = (q: QueueConfiguration) =>
    JSON.stringify((q.Filter?.Key?.FilterRules ?? []).map((r) => [r.Name?.toLowerCase(), r.Value]));
  return (
    c.QueueArn === wanted.QueueArn &&
    JSON.stringify([...(c.Events ?? [])].sort()) === JSON.stringify(wanted.Events) &&
    rules(c) === rules(wanted)
  );
}
