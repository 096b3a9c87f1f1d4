import { Match } from 'aws-cdk-lib/assertions';
import { CfnEventSourceMapping } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import type { PipelineStack } from '../../../infra/pipelineStack.ts';
import { topology, type FunctionName, type QueueName } from '../../../lib/topology.ts';
import { allFunctionNames, allowed, logicalId, objectsArn, pair, secretArn, synthesize } from './support.ts';

const queueNames = Object.keys(topology.queues) as QueueName[];
const functionNames = Object.keys(topology.functions) as FunctionName[];

/** What `ISecret.grantRead` allows on a brought database's secret. */
const readsSecret = ['GetSecretValue', 'DescribeSecret'].map((action) => pair(`secretsmanager:${action}`, secretArn));

function roleId(stack: PipelineStack, name: keyof PipelineStack['functions']): string {
  return logicalId(stack, stack.functions[name]!.function.role!);
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

  it('expires staged parts, and only them, after their partition message can no longer arrive, from the queue or its DLQ', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const bucket = template.findResources('AWS::S3::Bucket')[logicalId(stack, stack.bucket)];
    const dlq = template.findResources('AWS::SQS::Queue')[logicalId(stack, stack.queues.partitions.deadLetterQueue!.queue)];
    const rules: Array<{ Prefix?: string; ExpirationInDays?: number; AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number } }> =
      bucket.Properties.LifecycleConfiguration.Rules;

    // Assess
    const expiring = rules.filter((rule) => rule.ExpirationInDays !== undefined);
    expect(expiring.map((rule) => rule.Prefix)).toEqual([topology.bucket.stagingPrefix]);
    expect(expiring[0].ExpirationInDays! * 24 * 3600).toBeGreaterThan(topology.queues.partitions.retentionSeconds);
    expect(expiring[0].ExpirationInDays! * 24 * 3600).toBeGreaterThan(dlq.Properties.MessageRetentionPeriod);
    // Versioned: a job reads its own version; an overwritten one lives as long as its staged parts would.
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    const noncurrent = rules.filter((rule) => (rule as { NoncurrentVersionExpiration?: unknown }).NoncurrentVersionExpiration);
    expect(noncurrent.map((rule) => (rule as { NoncurrentVersionExpiration: { NoncurrentDays: number } }).NoncurrentVersionExpiration.NoncurrentDays)).toEqual([
      expiring[0].ExpirationInDays,
    ]);
    // Parts of an interrupted multipart upload are billed but invisible: they are cleaned up.
    expect(rules.some((rule) => (rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation ?? 0) > 0)).toBe(true);
  });

  it('logs every access to the upload bucket to a separate, private, expiring bucket', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const buckets = template.findResources('AWS::S3::Bucket');
    const uploads = buckets[logicalId(stack, stack.bucket)];
    const logsId = uploads.Properties.LoggingConfiguration.DestinationBucketName.Ref;

    // Assess
    expect(logsId).not.toBe(logicalId(stack, stack.bucket));
    expect(buckets[logsId].Properties.PublicAccessBlockConfiguration.BlockPublicPolicy).toBe(true);
    expect(buckets[logsId].Properties.LifecycleConfiguration.Rules[0].ExpirationInDays).toBeGreaterThan(0);
  });

  it('runs each function on Node.js 22 arm64 with the memory and timeout of its topology entry', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const all = { ...topology.functions, ...topology.scheduled, ...topology.http, ...topology.deploy };
    const specs = allFunctionNames.map((name) => ({ ...all[name], id: logicalId(stack, stack.functions[name]!.function) }));

    // Assess
    for (const spec of specs) {
      expect(template.findResources('AWS::Lambda::Function')[spec.id]).toBeDefined();
      template.hasResource('AWS::Lambda::Function', { Properties: Match.objectLike({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: spec.memoryMb,
        Timeout: spec.timeoutSeconds,
      }) });
    }
  });

  it('writes each function JSON logs, tagged with the service name, to a log group that expires', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    // The service names the functions' loggers use, spelled out.
    const services: Record<string, string> = {
      splitter: 'batchflow-splitter', processor: 'batchflow-processor', analytics: 'batchflow-analytics', tuner: 'batchflow-tuner',
      watchdog: 'batchflow-watchdog', compactor: 'batchflow-compactor', retention: 'batchflow-retention', api: 'batchflow-api', migrate: 'batchflow-migrate', syncSchedules: 'batchflow-sync-schedules',
    };
    const functions = allFunctionNames.map((name) => ({ name, logGroupId: logicalId(stack, stack.functions[name]!.logGroup) }));

    // Assess
    expect(Object.keys(services).sort()).toEqual([...allFunctionNames].sort());
    for (const { name, logGroupId } of functions) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logGroupId } },
        Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: services[name] }) },
      });
      expect(template.findResources('AWS::Logs::LogGroup')[logGroupId].Properties.RetentionInDays).toBe(stack.stage.logRetention);
    }
  });

  it("lets each function write its own log group only, not any log group in the account", () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const grants = allFunctionNames.map((name) => ({
      logs: [...allowed(template, roleId(stack, name))].filter((p) => p.startsWith('logs:')),
      own: { 'Fn::GetAtt': [logicalId(stack, stack.functions[name]!.logGroup), 'Arn'] },
    }));
    const roles = template.findResources('AWS::IAM::Role');
    const managed = allFunctionNames.flatMap((name) => roles[roleId(stack, name)]!.Properties.ManagedPolicyArns ?? []);

    // Assess
    for (const { logs, own } of grants) {
      expect(logs.length).toBeGreaterThan(0);
      for (const p of logs) expect(p.endsWith(JSON.stringify(own))).toBe(true);
    }
    expect(JSON.stringify(managed)).not.toContain('AWSLambdaBasicExecutionRole"');
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
        ScalingConfig: { MaximumConcurrency: Math.min(spec.maxConcurrency, stack.processorConcurrencyCap) },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('lets the splitter read uploads, read and write staged parts, send partitions and consume ingest, nothing more', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: secretArn });
    const bucketId = logicalId(stack, stack.bucket);
    const uploads = objectsArn(bucketId, topology.bucket.uploadPrefix);
    const staging = objectsArn(bucketId, topology.bucket.stagingPrefix);
    const ingest = { 'Fn::GetAtt': [logicalId(stack, stack.queues.ingest), 'Arn'] };
    const partitions = { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] };

    // Act
    const grants = withoutLogs(allowed(template, roleId(stack, 'splitter')));

    // Assess
    expect(grants).toEqual(
      new Set([
        pair('s3:GetObject', uploads),
        pair('s3:GetObjectVersion', uploads),
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
    const { stack, template } = synthesize({ databaseSecretArn: secretArn });
    const bucketId = logicalId(stack, stack.bucket);
    const partitions = { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] };

    // Act
    const grants = withoutLogs(allowed(template, roleId(stack, 'processor')));

    // Assess
    expect(grants).toEqual(
      new Set([
        pair('s3:GetObject', objectsArn(bucketId, topology.bucket.uploadPrefix)),
        pair('s3:GetObjectVersion', objectsArn(bucketId, topology.bucket.uploadPrefix)),
        pair('s3:GetObject', objectsArn(bucketId, topology.bucket.stagingPrefix)),
        ...readsSecret,
        ...['ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueAttributes', 'GetQueueUrl'].map(
          (action) => pair(`sqs:${action}`, partitions),
        ),
      ]),
    );
  });

  it('gives the analytics, watchdog, compactor, retention and migrate functions their own logs and the database secret, nothing more', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: secretArn });

    // Act
    const grants = (['analytics', 'watchdog', 'compactor', 'retention', 'migrate'] as const).map((name) => ({ name, grants: withoutLogs(allowed(template, roleId(stack, name))) }));

    // Assess
    for (const { grants: g } of grants) expect(g).toEqual(new Set(readsSecret));
  });

  it('lets the API send to the partition queue (retry, restart) and the ingest queue (POST /api/batch-jobs), HEAD uploads, keep job schedules and do what the tuner does (tuning routes), nothing more', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: secretArn });
    const partitions = { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] };
    const ingest = { 'Fn::GetAtt': [logicalId(stack, stack.queues.ingest), 'Arn'] };
    const sends = (queue: unknown) => ['SendMessage', 'GetQueueAttributes', 'GetQueueUrl'].map((action) => pair(`sqs:${action}`, queue));
    const functions = template.findResources('AWS::Lambda::Function');
    const env = (name: 'api' | 'tuner') => functions[logicalId(stack, stack.functions[name]!.function)].Properties.Environment.Variables;

    // Act
    const grants = withoutLogs(allowed(template, roleId(stack, 'api')));
    const tunerGrants = withoutLogs(allowed(template, roleId(stack, 'tuner')));
    const scheduler = [...grants].filter((p) => p.startsWith('scheduler:'));
    const others = new Set([...grants].filter((p) => !p.startsWith('scheduler:')));

    // Assess: the tuner's own grants (checked action by action in its test), the queues', HEAD on uploads and PassRole for schedules.
    expect(others).toEqual(
      new Set([
        ...tunerGrants,
        ...readsSecret,
        ...sends(partitions),
        ...sends(ingest),
        pair('s3:GetObject', objectsArn(logicalId(stack, stack.bucket), topology.bucket.uploadPrefix)),
        pair('iam:PassRole', { 'Fn::GetAtt': [logicalId(stack, stack.schedulerRole), 'Arn'] }),
      ]),
    );
    expect([...grants].filter((g) => g.startsWith('lambda:')).sort()).toEqual([...tunerGrants].filter((g) => g.startsWith('lambda:')).sort());
    expect([...tunerGrants].filter((g) => g.startsWith('lambda:')).length).toBe(6);
    // What `batchflow analytics put|delete` calls (UpdateSchedule, else CreateSchedule; DeleteSchedule), in the stack's group only.
    expect(scheduler.map((p) => p.split(' ')[0]).sort()).toEqual(['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:UpdateSchedule']);
    for (const p of scheduler) {
      expect(p).toContain(':schedule/');
      expect(p).toContain(stack.getLogicalId(stack.scheduleGroup));
    }
    expect(env('api')).toMatchObject({
      INGEST_QUEUE_URL: { Ref: logicalId(stack, stack.queues.ingest) },
      UPLOAD_BUCKET: { Ref: logicalId(stack, stack.bucket) },
      SCHEDULE_GROUP: { Ref: stack.getLogicalId(stack.scheduleGroup) },
    });
    for (const key of ['PROCESSOR_FUNCTION_NAME', 'SPLITTER_FUNCTION_NAME', 'PARTITION_QUEUE_NAME', 'PARTITION_QUEUE_ARN', 'TUNER_MAX_CONCURRENCY']) {
      expect(env('api')[key], key).toEqual(env('tuner')[key]);
    }
    // POST /api/tuning/apply is the only change: the API never applies on its own schedule.
    expect(env('api').TUNER_APPLY).toBeUndefined();
  });

  it.each(['watchdog', 'compactor', 'retention'] as const)('runs the %s on its schedule', (name) => {
    // Prepare
    const { stack, template } = synthesize({});

    // Act
    const schedule = template.findResources('AWS::Scheduler::Schedule');
    const target = Object.values(schedule).find((s) => s.Properties.ScheduleExpression === topology.scheduled[name].schedule && JSON.stringify(s.Properties.Target.Arn).includes(logicalId(stack, stack.functions[name].function)));

    // Assess
    expect(target).toBeDefined();
  });

  it('passes the splitter (to send) and the processor (to shorten visibility) the partition queue URL', () => {
    // Prepare
    const { stack, template } = synthesize();
    const functions = template.findResources('AWS::Lambda::Function');

    // Act
    const urls = (['splitter', 'processor'] as const).map(
      (name) => functions[logicalId(stack, stack.functions[name].function)].Properties.Environment.Variables.PARTITION_QUEUE_URL,
    );

    // Assess
    expect(urls).toEqual([0, 1].map(() => ({ Ref: logicalId(stack, stack.queues.partitions) })));
  });

  it('gives every function the database secret ARN and schema and read access to that secret only', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: secretArn, databaseSchema: 'analytics' });

    // Act
    const grants = allFunctionNames.map((name) => allowed(template, roleId(stack, name)));

    // Assess
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      {
        Environment: {
          Variables: Match.objectLike({ DATABASE_SECRET_ARN: secretArn, DATABASE_SCHEMA: 'analytics' }),
        },
      },
      allFunctionNames.length,
    );
    for (const grant of grants) {
      expect(grant).toContain(pair('secretsmanager:GetSecretValue', secretArn));
      const secretGrants = [...grant].filter((p) => p.startsWith('secretsmanager:'));
      expect(secretGrants.every((p) => p.endsWith(JSON.stringify(secretArn)))).toBe(true);
    }
  });

  it('puts no connection string or password in the template: Secrets Manager generates it, CloudFormation resolves it', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const text = JSON.stringify(template.toJSON());
    const clusters = Object.values(template.findResources('AWS::RDS::DBCluster'));
    const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret'));

    // Assess
    expect(text).not.toMatch(/DATABASE_URL|postgres(ql)?:\/\//i);
    expect(clusters).toHaveLength(1);
    expect(JSON.stringify(clusters[0].Properties.MasterUserPassword)).toContain('{{resolve:secretsmanager:');
    for (const secret of secrets) {
      expect(secret.Properties.SecretString).toBeUndefined();
      expect(secret.Properties.GenerateSecretString.GenerateStringKey).toBe('password');
    }
  });

  it('deletes a dev stack with its data: buckets and their objects, logs, the database without a final snapshot', () => {
    // Prepare
    const { template } = synthesize({ stage: 'dev' });

    // Act
    const policies = ['AWS::S3::Bucket', 'AWS::Logs::LogGroup', 'AWS::RDS::DBCluster'].flatMap((type) =>
      Object.values(template.findResources(type)).map((r) => `${type} ${r.DeletionPolicy}`),
    );
    const buckets = Object.keys(template.findResources('AWS::S3::Bucket'));

    // Assess
    expect(policies.length).toBeGreaterThan(allFunctionNames.length);
    for (const p of policies) expect(p).toMatch(/ Delete$/);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', buckets.length);
    template.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
  });

  it('retains the data of a prod stack: buckets, logs, and a snapshot of the database, which is protected from deletion', () => {
    // Prepare
    const { template } = synthesize({ stage: 'prod' });

    // Act
    const retained = ['AWS::S3::Bucket', 'AWS::Logs::LogGroup'].flatMap((type) =>
      Object.values(template.findResources(type)).map((r) => `${type} ${r.DeletionPolicy}`),
    );

    // Assess
    expect(retained.length).toBeGreaterThan(allFunctionNames.length);
    for (const p of retained) expect(p).toMatch(/ Retain$/);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    template.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot', Properties: Match.objectLike({ DeletionProtection: true }) });
  });

  it('lets EventBridge Scheduler of this account invoke the analytics function and nothing else', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const schedulerGrants = allowed(template, logicalId(stack, stack.schedulerRole));
    const analyticsGrants = [...allowed(template, roleId(stack, 'analytics'))];
    const analyticsArn = { 'Fn::GetAtt': [logicalId(stack, stack.functions.analytics.function), 'Arn'] };

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
    // The function's own ARN only: no `:*` for every version and alias.
    expect(schedulerGrants).toEqual(new Set([pair('lambda:InvokeFunction', analyticsArn)]));
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
    const grants = [...allowed(template, roleId(stack, 'syncSchedules'))];
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
    // After the migration, which runs after the database: schedules are read from migrated tables.
    expect(stack.syncSchedulesTrigger.node.dependencies).toContain(stack.migrateTrigger);
  });

  it('runs the tuner on its schedule, moving only the processor mapping and reserved concurrency', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const grants = [...allowed(template, roleId(stack, 'tuner'))];
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
    expect(scheduleTarget.arn).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.functions.tuner.function), 'Arn'] });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TUNER_APPLY: 'true',
          TUNER_MAX_CONCURRENCY: String(stack.processorConcurrencyCap),
          PARTITION_QUEUE_ARN: { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'Arn'] },
        }),
      },
    });
  });

  it('outputs the bucket name, the queue URLs, the API URL and the dashboard URL', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const queueIds = queueNames.map((name) => [topology.queues[name].id, logicalId(stack, stack.queues[name])]);

    // Assess
    template.hasOutput('BucketName', { Value: { Ref: logicalId(stack, stack.bucket) } });
    for (const [id, queueId] of queueIds) template.hasOutput(`${id}Url`, { Value: { Ref: queueId } });
    template.hasOutput('ApiUrl', {});
    expect(JSON.stringify(template.findOutputs('DashboardUrl'))).toContain('.console.aws.amazon.com/cloudwatch/home?region=');
    expect(JSON.stringify(template.findOutputs('DashboardUrl'))).toContain('#dashboards:name=');
  });
});

/** A role's grants without its log-group writes (checked once, for every function, above). */
function withoutLogs(grants: Set<string>): Set<string> {
  return new Set([...grants].filter((p) => !p.startsWith('logs:')));
}

