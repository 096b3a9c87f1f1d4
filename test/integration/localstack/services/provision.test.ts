import {
  GetEventSourceMappingCommand,
  GetFunctionCommand,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLambdaClient, createS3Client, createSqsClient } from '../../../../lib/adapters/aws.ts';
import { topology, type FunctionName } from '../../../../lib/topology.ts';
import { provision } from '../../../../localstack/services/provision.ts';
import { uniqueStage } from '../support.ts';

const endpoint = inject('awsEndpoint');
const region = inject('awsRegion');

let sqs: SQSClient;
let s3: S3Client;
let lambda: LambdaClient;

/** Every message body in a queue, received until a long poll comes back empty, and deleted. */
async function drain(queueUrl: string, waitTimeSeconds = 1): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitTimeSeconds }),
    );
    if (Messages.length === 0) return bodies;
    for (const m of Messages) {
      bodies.push(JSON.parse(m.Body!));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}

/** The object keys of S3 event messages, decoded (they arrive URL-encoded, `+` for space). */
const objectKeys = (bodies: unknown[]) =>
  bodies.flatMap((b) =>
    ((b as { Records?: { s3: { object: { key: string } } }[] }).Records ?? []).map((r) =>
      decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')),
    ),
  );

beforeAll(() => {
  sqs = createSqsClient({ endpoint, region });
  s3 = createS3Client({ endpoint, region });
  lambda = createLambdaClient({ endpoint, region });
});

afterAll(() => {
  sqs.destroy();
  s3.destroy();
  lambda.destroy();
});

const functionNames = Object.keys(topology.functions) as FunctionName[];

describe('provision', () => {
  it('creates the bucket and every queue with its DLQ and redrive policy as topology says', async () => {
    // Prepare
    const stage = uniqueStage('it-prov');

    // Act
    const provisioned = await provision({ stage, endpoint, region });

    // Assess
    await s3.send(new HeadBucketCommand({ Bucket: provisioned.bucket }));
    expect(provisioned.bucket).toBe(`batchflow-${stage}-uploads`);
    for (const [name, spec] of Object.entries(topology.queues)) {
      const queue = provisioned.queues[name as keyof typeof topology.queues];
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['All'] }));
      expect(Attributes).toMatchObject({
        VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(spec.retentionSeconds),
      });
      expect(JSON.parse(Attributes!.RedrivePolicy!)).toEqual({
        deadLetterTargetArn: queue.deadLetter.arn,
        maxReceiveCount: spec.maxReceiveCount,
      });
      expect(queue.deadLetter.name).toBe(`${queue.name}-dlq`);
    }
  });

  it('notifies the ingest queue of objects created under uploads/ and of no others', async () => {
    // Prepare
    const { bucket, queues } = await provision({ stage: uniqueStage('it-prov'), endpoint, region });
    const setupMessages = await drain(queues.ingest.url);

    // Act
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'elsewhere/sales/a.csv', Body: 'a\n1\n' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${topology.bucket.uploadPrefix}sales/b.csv`, Body: 'a\n1\n' }));
    const bodies = await drain(queues.ingest.url);

    // Assess
    expect(setupMessages.every((b) => (b as { Event?: string }).Event === 's3:TestEvent')).toBe(true);
    expect(objectKeys(bodies)).toEqual(['uploads/sales/b.csv']);
    expect(bodies[0]).toMatchObject({ Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket } } }] });
  });

  it('can run again over existing resources, applying changed settings without a new test event', async () => {
    // Prepare
    const stage = uniqueStage('it-prov');
    const first = await provision({ stage, endpoint, region });
    await drain(first.queues.ingest.url);

    // Act
    const second = await provision({ stage, endpoint, region, queueOverrides: { ingest: { visibilityTimeoutSeconds: 7, maxReceiveCount: 2 } } });

    // Assess
    expect(second.queues.ingest.url).toBe(first.queues.ingest.url);
    expect(second.queues.partitions.deadLetter.url).toBe(first.queues.partitions.deadLetter.url);
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: second.queues.ingest.url, AttributeNames: ['All'] }));
    expect(Attributes?.VisibilityTimeout).toBe('7');
    expect(JSON.parse(Attributes!.RedrivePolicy!).maxReceiveCount).toBe(2);
    expect(await drain(second.queues.ingest.url)).toEqual([]);
  });

  it('registers each queue-driven function with a disabled mapping from its queue, set as topology says', async () => {
    // Prepare
    const stage = uniqueStage('it-prov');

    // Act
    const { functions, queues } = await provision({ stage, endpoint, region });

    // Assess
    for (const key of functionNames) {
      const spec = topology.functions[key];
      const fn = functions[key];
      expect(fn.name).toBe(`batchflow-${stage}-${key}`);
      const { Configuration } = await lambda.send(new GetFunctionCommand({ FunctionName: fn.name }));
      expect(Configuration).toMatchObject({ FunctionArn: fn.arn, MemorySize: spec.memoryMb, Timeout: spec.timeoutSeconds });
      const { EventSourceMappings = [] } = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: fn.name }));
      expect(EventSourceMappings.map((m) => m.UUID)).toEqual([fn.mappingUuid]);
      const mapping = await lambda.send(new GetEventSourceMappingCommand({ UUID: fn.mappingUuid }));
      expect(mapping).toMatchObject({
        State: 'Disabled',
        EventSourceArn: queues[spec.source].arn,
        FunctionArn: fn.arn,
        BatchSize: spec.batchSize,
        ScalingConfig: { MaximumConcurrency: spec.maxConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('leaves a mapped queue to the local runtime: the endpoint consumes nothing', async () => {
    // Prepare
    const { queues } = await provision({ stage: uniqueStage('it-prov'), endpoint, region });

    // Act
    await sqs.send(new SendMessageCommand({ QueueUrl: queues.partitions.url, MessageBody: '{"key":"left-alone"}' }));
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    // Assess
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queues.partitions.url, MessageSystemAttributeNames: ['ApproximateReceiveCount'], WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([['{"key":"left-alone"}', '1']]);
  });

  it('keeps functions and mappings on a re-run, with the settings the tuner changed', async () => {
    // Prepare
    const stage = uniqueStage('it-prov');
    const first = await provision({ stage, endpoint, region });
    const processor = first.functions.processor;
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: processor.mappingUuid, BatchSize: 5, ScalingConfig: { MaximumConcurrency: 3 } }));

    // Act
    const second = await provision({ stage, endpoint, region });

    // Assess
    expect(second.functions).toEqual(first.functions);
    const mapping = await lambda.send(new GetEventSourceMappingCommand({ UUID: processor.mappingUuid }));
    expect(mapping).toMatchObject({ State: 'Disabled', BatchSize: 5, ScalingConfig: { MaximumConcurrency: 3 } });
    const { EventSourceMappings = [] } = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: processor.name }));
    expect(EventSourceMappings).toHaveLength(1);
  });
});
