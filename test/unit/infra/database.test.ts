import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { BatchflowDatabase } from '../../../infra/constructs/database.ts';
import { auroraMaxConnections } from '../../../infra/sizing.ts';
import { stageConfig } from '../../../infra/stages.ts';
import { topology } from '../../../lib/topology.ts';
import { allFunctionNames, externalNetwork, logicalId, secretArn, synthesize } from './support.ts';


/** The interface endpoint service names the template creates, e.g. `sqs`, `secretsmanager`. */
function interfaceEndpointServices(template: ReturnType<typeof synthesize>['template']): string[] {
  return Object.values(template.findResources('AWS::EC2::VPCEndpoint'))
    .filter((e) => e.Properties.VpcEndpointType === 'Interface')
    .map((e) => JSON.stringify(e.Properties.ServiceName).match(/\.([a-z]+)"?\]*\}?$/)?.[1] ?? JSON.stringify(e.Properties.ServiceName))
    .sort();
}

describe('BatchflowDatabase: the stack creates Aurora when no database is brought', () => {
  it('creates an encrypted Aurora PostgreSQL Serverless v2 cluster with the stage capacity, backups and logs', () => {
    // Prepare
    const { template } = synthesize({ stage: 'prod' });

    // Act
    const prod = stageConfig('prod').database;

    // Assess
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: prod.minCapacityAcu, MaxCapacity: prod.maxCapacityAcu },
      BackupRetentionPeriod: prod.backupRetentionDays,
      EnableCloudwatchLogsExports: ['postgresql'],
    });
    // A writer plus the stage's readers, all Serverless v2.
    template.resourcePropertiesCountIs('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' }, 1 + prod.readers);
  });

  it('puts the cluster behind an RDS Proxy that requires TLS and uses the cluster secret', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const secretId = logicalId(stack, stack.database.secret);

    // Assess
    template.hasResourceProperties('AWS::RDS::DBProxy', {
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      Auth: [Match.objectLike({ AuthScheme: 'SECRETS', SecretArn: { Ref: Match.stringLikeRegexp(`^${secretId.slice(0, 20)}`) } })],
    });
    template.hasResourceProperties('AWS::RDS::DBProxyTargetGroup', {
      ConnectionPoolConfigurationInfo: Match.objectLike({ MaxConnectionsPercent: BatchflowDatabase.proxyMaxConnectionsPercent }),
    });
  });

  it('connects every function through the proxy endpoint with TLS, never to the cluster endpoint in the secret', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const proxyEndpoint = { 'Fn::GetAtt': [logicalId(stack, stack.database.proxy!), 'Endpoint'] };
    const functions = template.findResources('AWS::Lambda::Function');
    const variables = allFunctionNames.map((name) => functions[logicalId(stack, stack.functions[name]!.function)]!.Properties.Environment.Variables);

    // Assess
    expect(variables).toHaveLength(allFunctionNames.length);
    for (const v of variables) {
      expect(v.DATABASE_HOST).toEqual(proxyEndpoint);
      expect(v.DATABASE_SSL).toBe('require');
    }
  });

  it('runs the functions in isolated subnets: no NAT gateway, no internet gateway, only VPC endpoints', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const services = interfaceEndpointServices(template);

    // Assess
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({}) });
    expect(services).toEqual(['lambda', 'monitoring', 'scheduler', 'secretsmanager', 'sqs']);
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { VpcConfig: Match.objectLike({ SubnetIds: Match.anyValue() }), Runtime: 'nodejs22.x' }, allFunctionNames.length);
  });

  it('places the interface endpoints in one AZ in dev and two in prod', () => {
    // Prepare
    const dev = synthesize({ stage: 'dev' }).template;
    const prod = synthesize({ stage: 'prod' }).template;

    // Act
    const subnetsPerEndpoint = (t: typeof dev) =>
      Object.values(t.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } })).map((e) => e.Properties.SubnetIds.length);

    // Assess
    expect(new Set(subnetsPerEndpoint(dev))).toEqual(new Set([stageConfig('dev').endpointAzs]));
    expect(new Set(subnetsPerEndpoint(prod))).toEqual(new Set([stageConfig('prod').endpointAzs]));
  });

  it('lets only the functions reach the proxy, and only the proxy and secret rotation reach the cluster', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const functionsSg = stack.database.network!.securityGroup;
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    const fromPeer = (peerId: string) => ingress.filter((r) => JSON.stringify(r.SourceSecurityGroupId).includes(peerId));
    const proxySgId = logicalId(stack, stack.database.proxy!.connections.securityGroups[0]!);
    const clusterSgId = logicalId(stack, stack.database.cluster!.connections.securityGroups[0]!);

    // Assess
    expect(fromPeer(logicalId(stack, functionsSg)).some((r) => JSON.stringify(r.GroupId).includes(proxySgId) && r.FromPort === 5432)).toBe(true);
    const intoCluster = ingress.filter((r) => JSON.stringify(r.GroupId).includes(clusterSgId));
    expect(intoCluster.length).toBe(2);
    for (const rule of intoCluster) expect(JSON.stringify(rule.SourceSecurityGroupId)).not.toContain(logicalId(stack, functionsSg));
    for (const rule of ingress) expect(rule.CidrIp).not.toBe('0.0.0.0/0');
  });

  it('rotates the database secret every 30 days', () => {
    // Prepare
    const { template } = synthesize();

    // Act
    const [schedule] = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));

    // Assess
    expect(schedule!.Properties.RotationRules.ScheduleExpression).toBe('rate(30 days)');
  });

  it('applies the schema on deploy, after the database and its proxy exist, and again whenever the migrations change', () => {
    // Prepare
    const { stack, template } = synthesize();

    // Act
    const trigger = template.findResources('Custom::Trigger')[logicalId(stack, stack.migrateTrigger)];
    const version = template.findResources('AWS::Lambda::Version')[trigger?.Properties.HandlerArn.Ref];

    // Assess
    expect(version!.Properties.FunctionName).toEqual({ Ref: logicalId(stack, stack.functions.migrate.function) });
    const dependsOn: string[] = trigger!.DependsOn;
    expect(dependsOn).toContain(logicalId(stack, stack.database.cluster!));
    expect(dependsOn).toContain(logicalId(stack, stack.database.proxy!));
    // The handler is a version, whose logical id changes with the code: new migrations run again.
    expect(trigger!.Properties.ExecuteOnHandlerChange).toBe(true);
    expect(Number(trigger!.Properties.Timeout)).toBe(topology.deploy.migrate.timeoutSeconds * 1000);
  });
});

describe('BatchflowDatabase: a brought database', () => {
  it('uses the given secret, creates no VPC, cluster or proxy, and connects with TLS to the host in the secret', () => {
    // Prepare
    const { stack, template } = synthesize({ databaseSecretArn: secretArn });

    // Act
    const variables = Object.values(template.findResources('AWS::Lambda::Function'))
      .map((f) => f.Properties.Environment?.Variables)
      .filter((v) => v?.DATABASE_SECRET_ARN);

    // Assess
    for (const type of ['AWS::EC2::VPC', 'AWS::RDS::DBCluster', 'AWS::RDS::DBProxy', 'AWS::EC2::VPCEndpoint']) template.resourceCountIs(type, 0);
    expect(variables).toHaveLength(allFunctionNames.length);
    for (const v of variables) {
      expect(v).toMatchObject({ DATABASE_SECRET_ARN: secretArn, DATABASE_SSL: 'require' });
      expect(v.DATABASE_HOST).toBeUndefined();
    }
    expect(stack.database.connections).toBe(100);
  });

  it('runs the functions in the given subnets with the given security group', () => {
    // Prepare
    const { template } = synthesize(externalNetwork);

    // Act
    const configs = Object.values(template.findResources('AWS::Lambda::Function'))
      .filter((f) => f.Properties.Environment?.Variables?.DATABASE_SECRET_ARN)
      .map((f) => f.Properties.VpcConfig);

    // Assess
    expect(configs).toHaveLength(allFunctionNames.length);
    for (const config of configs) {
      expect(config).toEqual({ SubnetIds: externalNetwork.databaseSubnetIds.split(','), SecurityGroupIds: [externalNetwork.databaseSecurityGroupId] });
    }
  });

  it('caps the processor below what the brought database allows, and fails the synth when it allows too little', () => {
    // Prepare
    const roomy = synthesize({ databaseSecretArn: secretArn, databaseMaxConnections: 400 }).stack;
    const small = synthesize({ databaseSecretArn: secretArn, databaseMaxConnections: 40 }).stack;

    // Act
    const tooSmall = () => synthesize({ databaseSecretArn: secretArn, databaseMaxConnections: 20 });

    // Assess
    // 40 connections: splitter 2×2 + analytics 2×2 + tuner 1×2 + watchdog 1×2 + compactor 1×2 + retention 1×2 + 10 headroom leave 14, 7 processors of 2.
    expect(small.processorConcurrencyCap).toBe(7);
    expect(roomy.processorConcurrencyCap).toBe(50);
    expect(tooSmall).toThrow(/allows 20 connections.*at least 2 are needed/);
  });
});

describe('processor concurrency on the created database', () => {
  it('caps the mapping and the reserved concurrency at what the proxy share of max_connections allows', () => {
    // Prepare
    const { stack, template } = synthesize({ stage: 'dev' });

    // Act
    const db = stageConfig('dev').database;
    const connections = Math.floor((auroraMaxConnections(db.minCapacityAcu, db.maxCapacityAcu) * BatchflowDatabase.proxyMaxConnectionsPercent) / 100);
    const processor = template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.functions.processor.function)]!;
    const concurrency = Math.min(topology.functions.processor.maxConcurrency, stack.processorConcurrencyCap);

    // Assess
    expect(stack.database.connections).toBe(connections);
    expect(stack.processorConcurrencyCap * 2 + 10 + 2 * (2 + 2 + 1)).toBeLessThanOrEqual(connections);
    expect(processor.Properties.ReservedConcurrentExecutions).toBe(concurrency);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: concurrency } });
  });
});
