import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { stageConfig } from '../../../infra/stages.ts';
import { operationsRoutes } from '../../../lib/api/operations.ts';
import { signals } from '../../../lib/tune/signals.ts';
import { topology, type QueueName } from '../../../lib/topology.ts';
import { logicalId, synthesize } from './support.ts';

const queueNames = Object.keys(topology.queues) as QueueName[];
/** The functions that run in response to work, and whose failures and throttles need a person. */
const watched = ['splitter', 'processor', 'analytics', 'tuner', 'watchdog', 'compactor', 'retention', 'api'] as const;

describe('Monitoring', () => {
  it('alarms as soon as any message reaches a dead-letter queue', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const dlqNames = queueNames.map((name) => ({ 'Fn::GetAtt': [logicalId(stack, stack.queues[name].deadLetterQueue!.queue), 'QueueName'] }));

    // Assess
    for (const dlq of dlqNames) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: dlq }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
      });
    }
  });

  it("alarms when the oldest partition message is older than the stage's limit", () => {
    // Prepare
    const dev = synthesize({ stage: 'dev' });
    const prod = synthesize({ stage: 'prod' });

    // Act
    const expectations = [
      { ...dev, limit: stageConfig('dev').alarms.oldestPartitionAgeSeconds },
      { ...prod, limit: stageConfig('prod').alarms.oldestPartitionAgeSeconds },
    ];

    // Assess
    expect(expectations[1]!.limit).toBeLessThan(expectations[0]!.limit);
    for (const { stack, template, limit } of expectations) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, stack.queues.partitions), 'QueueName'] } }],
        Threshold: limit,
      });
    }
  });

  it('alarms on errors and throttles of every function that does work', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const functionRefs = watched.map((name) => ({ Ref: logicalId(stack, stack.functions[name]!.function) }));

    // Assess
    for (const ref of functionRefs) {
      for (const metric of ['Errors', 'Throttles']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: ref }],
          Threshold: 0,
        });
      }
    }
  });

  it('sends every alarm, and its recovery, to one encrypted topic, e-mailed when an address is given', () => {
    // Prepare
    const { stack, template } = synthesize({ alarmEmail: 'ops@example.com' });

    // Act
    const topic = { Ref: logicalId(stack, stack.monitoring.topic) };
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));

    // Assess
    expect(alarms.length).toBe(queueNames.length + 1 + 2 * watched.length);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([topic]);
      expect(alarm.Properties.OKActions).toEqual([topic]);
    }
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it("draws throughput, latency, queue depth, errors and concurrency from the tuner's own signals", () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);

    // Assess
    for (const title of ['Throughput', 'Latency', 'Queue depth', 'Errors', 'Concurrency']) expect(body).toContain(title);
    for (const name of ['recordsProcessed', 'partitionMs', 'mergeMs', 'lockWaitMs', 'dbConnectionErrors'] as const) {
      expect(body).toContain(signals[name].metricName);
    }
    expect(body).toContain('ConcurrentExecutions');
    expect(body).toContain('ApproximateAgeOfOldestMessage');
    expect(dashboard!.Properties.DashboardName).toBe('batchflow-dev');
  });
});

describe('ReadApi', () => {
  it('serves GET (reads), POST, PUT and DELETE (changes) only, each signed with IAM, logging every access', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);

    // Assess
    expect(routes).toEqual([
      expect.objectContaining({ RouteKey: 'GET /{proxy+}', AuthorizationType: 'AWS_IAM' }),
      expect.objectContaining({ RouteKey: 'POST /{proxy+}', AuthorizationType: 'AWS_IAM' }),
      expect.objectContaining({ RouteKey: 'PUT /{proxy+}', AuthorizationType: 'AWS_IAM' }),
      expect.objectContaining({ RouteKey: 'DELETE /{proxy+}', AuthorizationType: 'AWS_IAM' }),
    ]);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [logicalId(stack, stack.functions.api!.function), 'Arn'] },
    });
  });

  it('serves every operations route through an IAM-signed route of its method, so a GET-only policy leaves out POST /api/tuning/apply', () => {
    // Prepare
    const { template } = synthesize();
    const signed = Object.values(template.findResources('AWS::ApiGatewayV2::Route'))
      .filter((r) => r.Properties.AuthorizationType === 'AWS_IAM')
      .map((r) => String(r.Properties.RouteKey).split(' ')[0]);
    // The README's read-only policy: execute-api:Invoke on .../$default/GET/*
    const readOnly = (method: string, path: string) => new RegExp('^\\$default/GET/.*$').test(`$default/${method}${path}`);

    // Act
    const routes = Object.values(operationsRoutes).map((r) => ({ method: r.method, path: r.path }));

    // Assess
    for (const r of routes) expect(signed, `${r.method} ${r.path}`).toContain(r.method);
    expect(routes.filter((r) => r.method !== 'GET')).toEqual([{ method: 'POST', path: '/api/tuning/apply' }]);
    expect(routes.filter((r) => readOnly(r.method, r.path)).map((r) => r.path)).toEqual(routes.filter((r) => r.method === 'GET').map((r) => r.path));
    expect(readOnly('POST', '/api/tuning/apply')).toBe(false);
  });

  it('is left out when the context turns it off, with its function, alarms and output', () => {
    // Prepare
    const { stack, template } = synthesize({ api: 'false' });

    // Act
    const outputs = Object.keys(template.findOutputs('*'));

    // Assess
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    expect(stack.functions.api).toBeUndefined();
    expect(outputs).not.toContain('ApiUrl');
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).length).toBe(queueNames.length + 1 + 2 * (watched.length - 1));
  });
});
