import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { pipelineStackName, readDeploymentContext } from '../../../infra/context.ts';
import { stageConfig, stageNames } from '../../../infra/stages.ts';
import { externalNetwork, secretArn } from './support.ts';

describe('readDeploymentContext', () => {
  it('defaults to a dev stage with a created database, the batchflow schema and the API', () => {
    // Prepare
    const app = new App();

    // Act
    const context = readDeploymentContext(app);

    // Assess
    expect(context).toEqual({ stage: 'dev', database: { kind: 'aurora' }, databaseSchema: 'batchflow', localstack: false, alarmEmail: undefined, api: true, definitions: 'definitions' });
    expect(pipelineStackName(context.stage)).toBe('Batchflow-dev');
  });

  it('reads a brought database with its network, as -c passes them (strings, a comma-separated subnet list)', () => {
    // Prepare
    const app = new App({ context: { stage: 'prod', ...externalNetwork, databaseMaxConnections: '300' } });

    // Act
    const context = readDeploymentContext(app);

    // Assess
    expect(context.database).toEqual({
      kind: 'external',
      secretArn,
      network: { vpcId: 'vpc-0123abcd', subnetIds: ['subnet-0123abcd', 'subnet-0456abcd'], securityGroupId: 'sg-0123abcd' },
      maxConnections: 300,
    });
    expect(pipelineStackName(context.stage)).toBe('Batchflow-prod');
  });

  it('names every problem: an unknown stage, a secret ARN without its suffix, half a network, a bad e-mail', () => {
    // Prepare
    const app = new App({
      context: { stage: 'staging', databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db', databaseVpcId: 'vpc-0123abcd', alarmEmail: 'ops' },
    });

    // Act
    const read = () => readDeploymentContext(app);

    // Assess
    expect(read).toThrow(/stage: stage must be one of dev, prod/);
    expect(read).toThrow(/databaseSecretArn: databaseSecretArn must be a complete Secrets Manager secret ARN/);
    expect(read).toThrow(/alarmEmail: alarmEmail must be an e-mail address/);
  });

  it('asks for the rest of a network given in part, and for a secret with LocalStack', () => {
    // Prepare
    const partial = new App({ context: { databaseSecretArn: secretArn, databaseVpcId: 'vpc-0123abcd' } });
    const localstack = new App({ context: { localstack: 'true' } });

    // Act
    const readPartial = () => readDeploymentContext(partial);
    const readLocalstack = () => readDeploymentContext(localstack);

    // Assess
    expect(readPartial).toThrow(/give databaseVpcId, databaseSubnetIds and databaseSecurityGroupId together/);
    expect(readLocalstack).toThrow(/localstack needs databaseSecretArn/);
  });
});

describe('stageConfig', () => {
  it('makes dev disposable and cheap, and prod durable', () => {
    // Prepare
    const [dev, prod] = stageNames.map(stageConfig);

    // Act
    const differences = {
      removal: [dev!.removalPolicy, prod!.removalPolicy],
      protection: [dev!.database.deletionProtection, prod!.database.deletionProtection],
      readers: [dev!.database.readers, prod!.database.readers],
    };

    // Assess
    expect(differences).toEqual({ removal: ['destroy', 'retain'], protection: [false, true], readers: [0, 1] });
    expect(prod!.logRetention).toBeGreaterThan(dev!.logRetention);
    expect(prod!.database.backupRetentionDays).toBeGreaterThan(dev!.database.backupRetentionDays);
    expect(prod!.database.maxCapacityAcu).toBeGreaterThan(dev!.database.maxCapacityAcu);
    expect(prod!.endpointAzs).toBeGreaterThan(dev!.endpointAzs);
  });
});
