import { randomBytes } from 'node:crypto';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import {
  CreateEventSourceMappingCommand,
  CreateFunctionCommand,
  GetEventSourceMappingCommand,
  GetFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createIamClient, createLambdaClient, createSqsClient } from '../../../lib/adapters/aws.ts';
import { createProcessorSettings, MappingNotFoundError, type ProcessorTarget } from '../../../lib/adapters/processorSettings.ts';
import { storedZip } from '../../../localstack/services/zip.ts';

const clientOptions = { endpoint: inject('awsEndpoint'), region: inject('awsRegion') };
const lambda = createLambdaClient(clientOptions);
const iam = createIamClient(clientOptions);
const sqs = createSqsClient(clientOptions);
const prefix = `it-levers-${randomBytes(3).toString('hex')}`;
let roleArn: string;

/** A queue and a function with a disabled mapping between them, as provisioning makes them. */
async function fixture(name: string, mapping: { batchSize: number; maxConcurrency: number }) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-${name}` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  const functionName = `${prefix}-${name}`;
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: functionName,
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Role: roleArn,
      Code: { ZipFile: storedZip({ 'index.mjs': 'export const handler = async () => {};\n' }) },
    }),
  );
  const { UUID } = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: functionName,
      EventSourceArn: Attributes!.QueueArn,
      Enabled: false,
      BatchSize: mapping.batchSize,
      ScalingConfig: { MaximumConcurrency: mapping.maxConcurrency },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    }),
  );
  return { functionName, queueArn: Attributes!.QueueArn!, mappingUuid: UUID! };
}

beforeAll(async () => {
  const { Role } = await iam.send(
    new CreateRoleCommand({
      RoleName: `${prefix}-role`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  roleArn = Role!.Arn!;
});

afterAll(() => {
  lambda.destroy();
  iam.destroy();
  sqs.destroy();
});

describe('processor settings over the Lambda API', () => {
  it('reads the mapping found by function and queue, applies a change and reads it back', async () => {
    // Prepare
    const { functionName, queueArn, mappingUuid } = await fixture('read-apply', { batchSize: 1, maxConcurrency: 8 });
    const settings = createProcessorSettings(lambda, { functionName, queueArn });

    // Act
    const before = await settings.read();
    await settings.apply({ batchSize: 4, maxConcurrency: 12 });
    const after = await settings.read();

    // Assess
    expect(before).toEqual({ batchSize: 1, maxConcurrency: 8, reservedConcurrency: null });
    expect(after).toEqual({ batchSize: 4, maxConcurrency: 12, reservedConcurrency: null });
    const mapping = await lambda.send(new GetEventSourceMappingCommand({ UUID: mappingUuid }));
    expect(mapping).toMatchObject({ BatchSize: 4, ScalingConfig: { MaximumConcurrency: 12 }, State: 'Disabled' });
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
  });

  it('changes only the levers it is given', async () => {
    // Prepare
    const target = await fixture('partial', { batchSize: 2, maxConcurrency: 5 });
    const settings = createProcessorSettings(lambda, target);

    // Act
    await settings.apply({ maxConcurrency: 3 });
    const concurrencyOnly = await settings.read();
    await settings.apply({ batchSize: 6 });
    const batchOnly = await settings.read();
    await settings.apply({});
    const nothing = await settings.read();

    // Assess
    expect(concurrencyOnly).toEqual({ batchSize: 2, maxConcurrency: 3, reservedConcurrency: null });
    expect(batchOnly).toEqual({ batchSize: 6, maxConcurrency: 3, reservedConcurrency: null });
    expect(nothing).toEqual(batchOnly);
  });

  it('reserves the function concurrency and removes the reservation', async () => {
    // Prepare
    const target = await fixture('reserved', { batchSize: 1, maxConcurrency: 8 });
    const settings = createProcessorSettings(lambda, target);
    const reserved = async () =>
      (await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: target.functionName }))).ReservedConcurrentExecutions;

    // Act
    await settings.apply({ reservedConcurrency: 6 });
    const put = await settings.read();
    const atEndpoint = await reserved();
    await settings.apply({ reservedConcurrency: null });
    const removed = await settings.read();

    // Assess
    expect(put).toEqual({ batchSize: 1, maxConcurrency: 8, reservedConcurrency: 6 });
    expect(atEndpoint).toBe(6);
    expect(removed.reservedConcurrency).toBeNull();
    expect(await reserved()).toBeUndefined();
  });

  it('fails with MappingNotFoundError when the queue has no mapping to the function', async () => {
    // Prepare
    const { functionName } = await fixture('mapped', { batchSize: 1, maxConcurrency: 2 });
    const other: ProcessorTarget = { functionName, queueArn: `arn:aws:sqs:${clientOptions.region}:123456789012:${prefix}-unmapped` };

    // Act
    const read = createProcessorSettings(lambda, other).read();

    // Assess
    await expect(read).rejects.toBeInstanceOf(MappingNotFoundError);
  });
});
