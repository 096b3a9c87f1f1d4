import { readFileSync } from 'node:fs';
import { App, type CfnResource } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { CfnEventSourceMapping } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import {
  PipelineStack,
  pipelineStackName,
  readPipelineContext,
  type PipelineStackProps,
} from '../../../infra/pipelineStack.ts';
import { topology, type FunctionName, type QueueName } from '../../../lib/topology.ts';

// The feature flags `cdk synth` runs with, so the tests assert the template that gets deployed.
const cdkJson = JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:batchflow/database-AbC123';
const queueNames = Object.keys(topology.queues) as QueueName[];
const functionNames = Object.keys(topology.functions) as FunctionName[];
/** Every batchflow function: queue-, schedule- and deploy-driven. */
const allFunctionCount = functionNames.length + Object.keys(topology.scheduled).length + Object.keys(topology.deploy).length;

/** A fresh app and stack with cdk.json's flags, configured as deployed unless props say otherwise. */
function synthesize(props: Partial<PipelineStackProps> = {}): { stack: PipelineStack; template: Template } {
  const app = new App({ context: cdkJson.context });
  const stack = new PipelineStack(app, 'Test', { stage: 'dev', databaseSecretArn: secretArn, ...props });
  return { stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource. */
function logicalId(stack: PipelineStack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnResource);
}

/** `arn:...:bucket/<prefix>*` as CloudFormation renders it. */
function objectsArn(bucketId: string, prefix: string): unknown {
  return { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] };
}

/** Every `action resource` pair a role's inline policies allow, however CDK merged the statements. */
function allowed(template: Template, roleId: string): Set<string> {
  const pairs = new Set<string>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const roles: unknown[] = policy.Properties.Roles;
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of [statement.Action].flat()) {
        for (const resource of [statement.Resource].flat()) pairs.add(`${action} ${JSON.stringify(resource)}`);
      }
    }
  }
  return pairs;
}

function pair(action: string, resource: unknown): string {
  return `${action} ${JSON.stringify(resource)}`;
}

/** What `ISecret.grantRead` allows on the database secret. */
const readsSecret = ['GetSecretValue', 'DescribeSecret'].map((action) => pair(`secretsmanager:${action}`, secretArn));

function roleId(stack: PipelineStack, name: FunctionName): string {
  return logicalId(stack, stack.functions[name].function.role!);
}

describe('PipelineStack', () => {
  it('dead-letters each queue after the topology maxReceiveCount, with its visibility and retention', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const expected = queueNames.map((name) => ({
      name,
      deadLetterQueueId: logicalId(stack, stack.queues[name].deadLetterQueue!.queue),
    }));

    // Assess
    for (const { name, deadLetterQueueId } of expected) {
      const spec = topology.queues[name];
      template.hasResourceProperties('AWS::SQS::Queue', {
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] },
          maxReceiveCount: spec.maxReceiveCount,
        },
        VisibilityTimeout: spec.visibilityTimeoutSeconds,
        MessageRetentionPeriod: spec.retentionSeconds,
      });
    }
  });

  it('encrypts every queue, dead-letter queues included, with SQS-managed keys', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const queues = Object.values(template.findResources('AWS::SQS::Queue'));

    // Assess
    expect(queues).toHaveLength(2 * queueNames.length);
    for (const queue of queues) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
  });

  it('keeps a received message invisible for at least six times its consumer timeout', () => {
    // Prepare
    const { template } = synthesize();
    const queues = template.findResources('AWS::SQS::Queue');
    const functions = template.findResources('AWS::Lambda::Function');

    // Act
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).map((m) => ({
      visibilityTimeout: queues[m.Properties.EventSourceArn['Fn::GetAtt'][0]].Properties.VisibilityTimeout,
      functionTimeout: functions[m.Properties.FunctionName.Ref].Properties.Timeout,
    }));

    // Assess
    expect(mappings).toHaveLength(functionNames.length);
    for (const { visibilityTimeout, functionTimeout } of mappings) {
      expect(functionTimeout).toBeGreaterThan(0);
      expect(visibilityTimeout).toBeGreaterThanOrEqual(6 * functionTimeout);
    }
  });

  it('notifies the ingest queue of objects created under the upload prefix only', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const ingestQueueId = logicalId(stack, stack.queues.ingest);

    // Assess
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: logicalId(stack, stack.bucket) },
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: topology.bucket.uploadPrefix }] } },
            QueueArn: { 'Fn::GetAtt': [ingestQueueId, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ingestQueueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack, stack.bucket), 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('encrypts the bucket, blocks public access and denies requests without TLS', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const bucketId = logicalId(stack, stack.bucket);

    // Assess
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('expires staged parts, and only them, after their partition message can no longer arrive', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const [bucket] = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { LifecycleConfiguration: Match.anyValue() } }));
    const rules: Array<{ Prefix?: string; ExpirationInDays?: number }> = bucket.Properties.LifecycleConfiguration.Rules;

    // Assess
    const expiring = rules.filter((rule) => rule.ExpirationInDays !== undefined);
    expect(expiring.map((rule) => rule.Prefix)).toEqual([topology.bucket.stagingPrefix]);
    expect(expiring[0].ExpirationInDays! * 24 * 3600).toBeGreaterThan(topology.queues.partitions.retentionSeconds);
  });

  it('runs each function on Node.js 22 arm64 with the memory and timeout of its topology entry', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const specs = functionNames.map((name) => topology.functions[name]);

    // Assess
    for (const spec of specs) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: spec.memoryMb,
        Timeout: spec.timeoutSeconds,
      });
    }
  });

  it('writes each function JSON logs, tagged with the service name, to a log group that expires', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const logGroupIds = functionNames.map((name) => logicalId(stack, stack.functions[name].logGroup));

    // Assess
    for (const logGroupId of logGroupIds) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logGroupId } },
        Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'batchflow' }) },
      });
      expect(template.findResources('AWS::Logs::LogGroup')[logGroupId].Properties.RetentionInDays).toBeGreaterThan(0);
    }
  });

  it('drives each function from its topology source queue with partial batch responses', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const expected = functionNames.map((name) => ({
      spec: topology.functions[name],
      functionId: logicalId(stack, stack.functions[name].function),
      queueId: logicalId(stack, stack.queues[topology.functions[name].source]),
    }));

    // Assess
    for (const { spec, functionId, queueId } of expected) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: functionId },
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        BatchSize: spec.batchSize,
        MaximumBatchingWindowInSeconds: spec.maxBatchingWindowSeconds,
        ScalingConfig: { MaximumConcurrency: spec.maxConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('lets the splitter read uploads, read and write staged parts, send partitions and consume ingest, nothing more', () => {
    // Prepare
    const { stack, template } = synthesize();
    const bucketId = logicalId(stack, stack.bucket);
    const uploads = objectsArn(bucketId, topology.bucket.uploadPrefix);
    const staging = objectsArn(bucketId, topology.bucket.stagingPrefix);
    const ingest = { 'Fn::GetAtt': [logicalId(stack, stack.queues.ingest), 'Arn'] };
    const partitions = { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] };

    // Act
    const grants = allowed(template, roleId(stack, 'splitter'));

    // Assess
    expect(grants).toEqual(
      new Set([
        pair('s3:GetObject', uploads),
        pair('s3:GetObject', staging),
        pair('s3:PutObject', staging),
        pair('sqs:SendMessage', partitions),
        pair('sqs:GetQueueAttributes', partitions),
        pair('sqs:GetQueueUrl', partitions),
        ...readsSecret,
        ...['ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueAttributes', 'GetQueueUrl'].map(
          (action) => pair(`sqs:${action}`, ingest),
        ),
      ]),
    );
  });

  it('lets the processor read uploads and staged parts and consume partitions, nothing more', () => {
    // Prepare
    const { stack, template } = synthesize();
    const bucketId = logicalId(stack, stack.bucket);
    const partitions = { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] };

    // Act
    const grants = allowed(template, roleId(stack, 'processor'));

    // Assess
    expect(grants).toEqual(
      new Set([
        pair('s3:GetObject', objectsArn(bucketId, topology.bucket.uploadPrefix)),
        pair('s3:GetObject', objectsArn(bucketId, topology.bucket.stagingPrefix)),
        ...readsSecret,
        ...['ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueAttributes', 'GetQueueUrl'].map(
          (action) => pair(`sqs:${action}`, partitions),
        ),
      ]),
    );
  });

  it('passes the splitter the partition queue URL', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const splitterId = logicalId(stack, stack.functions.splitter.function);

    // Assess
    expect(
      template.findResources('AWS::Lambda::Function')[splitterId].Properties.Environment.Variables.PARTITION_QUEUE_URL,
    ).toEqual({ Ref: logicalId(stack, stack.queues.partitions) });
  });

  it('gives every function the database secret ARN and schema and read access to that secret only', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: secretArn, databaseSchema: 'analytics' });

    // Act
    const grants = functionNames.map((name) => allowed(template, roleId(stack, name)));

    // Assess
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      {
        Environment: {
          Variables: Match.objectLike({ DATABASE_SECRET_ARN: secretArn, DATABASE_SCHEMA: 'analytics' }),
        },
      },
      allFunctionCount,
    );
    for (const grant of grants) {
      expect(grant).toContain(pair('secretsmanager:GetSecretValue', secretArn));
      const secretGrants = [...grant].filter((p) => p.startsWith('secretsmanager:'));
      expect(secretGrants.every((p) => p.endsWith(JSON.stringify(secretArn)))).toBe(true);
    }
  });

  it('puts no connection string or password in the template', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const text = JSON.stringify(template.toJSON());

    // Assess
    expect(text).not.toMatch(/DATABASE_URL|postgres(ql)?:\/\/|password/i);
  });

  it('gives the functions no database settings or secret access, and warns, when no secret is given', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: undefined });

    // Act
    const grants = functionNames.flatMap((name) => [...allowed(template, roleId(stack, name))]);
    const variables = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (fn) => fn.Properties.Environment?.Variables ?? {},
    );

    // Assess
    expect(grants.filter((p) => p.startsWith('secretsmanager:'))).toEqual([]);
    for (const v of variables) expect(Object.keys(v)).not.toContain('DATABASE_SECRET_ARN');
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('no databaseSecretArn'));
  });

  it('deletes a dev stack bucket with its objects', () => {
    // Prepare
    const { template } = synthesize({ stage: 'dev' });

    // Act
    const buckets = Object.values(template.findResources('AWS::S3::Bucket'));

    // Assess
    expect(buckets.map((b) => b.DeletionPolicy)).toEqual(['Delete']);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
  });

  it('retains the bucket and the logs of any other stage', () => {
    // Prepare
    const { template } = synthesize({ stage: 'prod' });

    // Act
    const retained = [
      ...Object.values(template.findResources('AWS::S3::Bucket')),
      ...Object.values(template.findResources('AWS::Logs::LogGroup')),
    ].map((r) => r.DeletionPolicy);

    // Assess
    expect(retained).toEqual(Array(1 + allFunctionCount).fill('Retain'));
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('lets EventBridge Scheduler of this account invoke the analytics function and nothing else', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const schedulerGrants = allowed(template, logicalId(stack, stack.schedulerRole));
    const analyticsGrants = [...allowed(template, logicalId(stack, stack.analytics.function.role!))];
    const analyticsArn = { 'Fn::GetAtt': [logicalId(stack, stack.analytics.function), 'Arn'] };

    // Assess
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ],
      },
    });
    expect([...schedulerGrants].every((p) => p.startsWith('lambda:InvokeFunction '))).toBe(true);
    expect(schedulerGrants).toContain(pair('lambda:InvokeFunction', analyticsArn));
    // The analytics function reads the database secret and touches no bucket or queue.
    expect(analyticsGrants.filter((p) => /^(s3|sqs):/.test(p))).toEqual([]);
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: `${topology.scheduled.analytics.scheduleGroup}-dev` });
    template.hasOutput('ScheduleGroupName', {});
    template.hasOutput('SchedulerRoleArn', {});
    template.hasOutput('AnalyticsFunctionArn', {});
  });

  it('syncs job schedules after deploy with Scheduler rights on its own group and role only', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const grants = [...allowed(template, logicalId(stack, stack.syncSchedules.function.role!))];
    const schedulerGrants = grants.filter((p) => p.startsWith('scheduler:'));
    const passRole = grants.filter((p) => p.startsWith('iam:'));

    // Assess
    expect(schedulerGrants.filter((p) => p.endsWith('"*"'))).toEqual(['scheduler:ListSchedules "*"']);
    for (const p of schedulerGrants.filter((g) => !g.startsWith('scheduler:ListSchedules'))) {
      expect(p).toContain(':schedule/');
      expect(p).toContain(stack.getLogicalId(stack.scheduleGroup));
    }
    expect(passRole).toEqual([pair('iam:PassRole', { 'Fn::GetAtt': [logicalId(stack, stack.schedulerRole), 'Arn'] })]);
    expect(grants.filter((p) => /^(s3|sqs|lambda):/.test(p))).toEqual([]);
    template.resourceCountIs('Custom::Trigger', 1);
  });

  it('runs the tuner on its schedule, moving only the processor mapping and reserved concurrency', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const grants = [...allowed(template, logicalId(stack, stack.tuner.function.role!))];
    const processorArn = { 'Fn::GetAtt': [logicalId(stack, stack.functions.processor.function), 'Arn'] };
    const mappingId = stack.getLogicalId(stack.functions.processor.function.node.findAll().find((c) => c instanceof CfnEventSourceMapping) as CfnEventSourceMapping);
    const lambdaGrants = grants.filter((p) => p.startsWith('lambda:'));
    const scheduleTarget = stack.resolve(stack.tunerSchedule.target) as { arn: unknown };

    // Assess
    expect(grants.filter((p) => p.endsWith('"*"')).sort()).toEqual(['cloudwatch:GetMetricData "*"', 'lambda:ListEventSourceMappings "*"']);
    for (const action of ['GetFunctionConcurrency', 'PutFunctionConcurrency', 'DeleteFunctionConcurrency']) {
      expect(lambdaGrants).toContain(pair(`lambda:${action}`, processorArn));
    }
    for (const p of lambdaGrants.filter((g) => /EventSourceMapping /.test(g))) expect(p).toContain(mappingId);
    expect(grants.filter((p) => /^(s3|sqs|scheduler|iam):/.test(p))).toEqual([]);
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: topology.scheduled.tuner.schedule, FlexibleTimeWindow: { Mode: 'OFF' } });
    expect(scheduleTarget.arn).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.tuner.function), 'Arn'] });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TUNER_APPLY: 'true', PARTITION_QUEUE_ARN: { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] } }) },
    });
  });

  it('outputs the bucket name and the queue URLs', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const queueIds = queueNames.map((name) => [topology.queues[name].id, logicalId(stack, stack.queues[name])]);

    // Assess
    template.hasOutput('BucketName', { Value: { Ref: logicalId(stack, stack.bucket) } });
    for (const [id, queueId] of queueIds) template.hasOutput(`${id}Url`, { Value: { Ref: queueId } });
  });
});

describe('readPipelineContext', () => {
  it('defaults the stage to dev, naming the stack Batchflow-dev', () => {
    // Prepare
    const app = new App();

    // Act
    const context = readPipelineContext(app);

    // Assess
    expect(context).toEqual({ stage: 'dev' });
    expect(pipelineStackName(context.stage)).toBe('Batchflow-dev');
  });

  it('reads the stage and the database secret from context', () => {
    // Prepare
    const app = new App({ context: { stage: 'prod', databaseSecretArn: secretArn } });

    // Act
    const context = readPipelineContext(app);

    // Assess
    expect(context).toEqual({ stage: 'prod', databaseSecretArn: secretArn });
    expect(pipelineStackName(context.stage)).toBe('Batchflow-prod');
  });

  it('rejects a secret ARN without its random suffix and a stage that cannot name a stack', () => {
    // Prepare
    const app = new App({
      context: { stage: 'Prod_1', databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db' },
    });

    // Act
    const read = () => readPipelineContext(app);

    // Assess
    expect(read).toThrow(/stage: .*databaseSecretArn: /);
  });
});
