import { describe, expect, it } from 'vitest';
import { contract, contractVariables, functionEnvironment, loadCliEnvironment, loadConfig } from '../../lib/config.ts';
import type { AnyFunctionName } from '../../lib/topology.ts';

const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:batchflow/database-AbC123';
const queueArn = 'arn:aws:sqs:eu-west-1:123456789012:q';

describe('loadConfig: database and tuner settings the stack passes', () => {
  it('reads the proxy host, TLS mode and the tuner concurrency cap', () => {
    // Prepare
    const env = {
      DATABASE_SECRET_ARN: arn,
      DATABASE_HOST: 'proxy.example',
      DATABASE_SSL: 'disable',
      PROCESSOR_FUNCTION_NAME: 'p',
      SPLITTER_FUNCTION_NAME: 's',
      PARTITION_QUEUE_NAME: 'q',
      PARTITION_QUEUE_ARN: queueArn,
      TUNER_MAX_CONCURRENCY: '37',
    };

    // Act
    const config = loadConfig('tuner', env);

    // Assess
    expect(config).toMatchObject({ databaseHost: 'proxy.example', databaseSsl: 'disable' });
    expect(config.tuner.maxConcurrency).toBe(37);
    expect(loadConfig('analytics', { DATABASE_SECRET_ARN: arn }).databaseSsl).toBe('require');
  });

  it('names a bad TLS mode and a bad concurrency cap', () => {
    // Prepare
    const env = { DATABASE_SECRET_ARN: arn, DATABASE_SSL: 'maybe', TUNER_MAX_CONCURRENCY: 'lots' };

    // Act
    const load = () => loadConfig('tuner', env);

    // Assess
    expect(load).toThrow(/DATABASE_SSL: DATABASE_SSL must be require or disable.*TUNER_MAX_CONCURRENCY/);
  });
});

describe('loadConfig: the processor\'s record limits', () => {
  it('stores 1,000 rejects per partition unless MAX_STORED_REJECTS says otherwise, and names a bad value', () => {
    // Prepare
    const env = { DATABASE_URL: 'postgres://u@h/db', PARTITION_QUEUE_URL: 'http://127.0.0.1:4566/q' };

    // Act
    const byDefault = loadConfig('processor', env);
    const set = loadConfig('processor', { ...env, MAX_STORED_REJECTS: '25' });
    const none = loadConfig('processor', { ...env, MAX_STORED_REJECTS: '0' });
    const bad = () => loadConfig('processor', { ...env, MAX_STORED_REJECTS: '-1' });

    // Assess
    expect([byDefault.maxStoredRejects, set.maxStoredRejects, none.maxStoredRejects]).toEqual([1000, 25, 0]);
    expect(bad).toThrow(/MAX_STORED_REJECTS/);
    expect(() => functionEnvironment('splitter', { ...env, MAX_STORED_REJECTS: '5' })).toThrow(/MAX_STORED_REJECTS is not read by splitter/);
  });
});

describe('loadConfig: each function reads its own part of the contract', () => {
  it('fails the splitter and the processor without the partition queue, naming the variable', () => {
    // Prepare
    const env = { DATABASE_URL: 'postgres://u@h/db' };
    const withQueue = { ...env, PARTITION_QUEUE_URL: 'https://sqs/q' };

    // Act
    const splitter = () => loadConfig('splitter', env);
    const processorWithout = () => loadConfig('processor', env);
    const processor = loadConfig('processor', withQueue);

    // Assess
    expect(splitter).toThrow(/invalid configuration of splitter: PARTITION_QUEUE_URL/);
    expect(processorWithout).toThrow(/invalid configuration of processor: PARTITION_QUEUE_URL/);
    expect(processor).toMatchObject({
      databaseUrl: 'postgres://u@h/db',
      databaseSchema: 'batchflow',
      databasePoolSize: 2,
      functionName: 'batchflow',
      partitionQueueUrl: 'https://sqs/q',
    });
  });

  it("gives the API the splitter's partition limits, and its schedules only with all three settings", () => {
    // Prepare
    const tuner = { PROCESSOR_FUNCTION_NAME: 'p', SPLITTER_FUNCTION_NAME: 's', PARTITION_QUEUE_NAME: 'q', PARTITION_QUEUE_ARN: 'arn:aws:sqs:eu-west-1:123456789012:q' };
    const base = { DATABASE_SECRET_ARN: arn, PARTITION_QUEUE_URL: 'https://sqs.example/p', INGEST_QUEUE_URL: 'https://sqs.example/i', UPLOAD_BUCKET: 'uploads', ...tuner };
    const schedules = { SCHEDULE_GROUP: 'g', SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/r', ANALYTICS_FUNCTION_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:a' };

    // Act
    const local = loadConfig('api', { ...base, MAX_RECORD_BYTES: '2048' });
    const deployed = loadConfig('api', { ...base, ...schedules });
    const half = () => loadConfig('api', { ...base, SCHEDULE_GROUP: 'g' });

    // Assess
    expect(local).toMatchObject({ ingestQueueUrl: 'https://sqs.example/i', uploadBucket: 'uploads', partitionBytes: 8 * 1024 * 1024, maxRecordBytes: 2048, jobSchedules: undefined });
    expect(deployed.jobSchedules).toEqual({ groupName: 'g', roleArn: schedules.SCHEDULER_ROLE_ARN, functionArn: schedules.ANALYTICS_FUNCTION_ARN });
    expect(half).toThrow('set all of SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and ANALYTICS_FUNCTION_ARN, or none');
    // The tuning routes watch and move the tuner's targets.
    expect(local.tuner).toMatchObject({ processorFunctionName: 'p', splitterFunctionName: 's', partitionQueueName: 'q', partitionQueueArn: tuner.PARTITION_QUEUE_ARN });
  });

  it('names every missing tuner target and schedule setting at once', () => {
    // Prepare
    const env = { DATABASE_URL: 'postgres://u@h/db' };

    // Act
    const tuner = () => loadConfig('tuner', env);
    const sync = () => loadConfig('syncSchedules', env);

    // Assess
    expect(tuner).toThrow(/PROCESSOR_FUNCTION_NAME.*SPLITTER_FUNCTION_NAME.*PARTITION_QUEUE_NAME.*PARTITION_QUEUE_ARN/);
    expect(sync).toThrow(/SCHEDULE_GROUP.*SCHEDULER_ROLE_ARN.*ANALYTICS_FUNCTION_ARN/);
  });

  it('asks for a database URL or secret, and treats an empty variable as unset', () => {
    // Prepare
    const env = { DATABASE_URL: '', DATABASE_SCHEMA: '' };

    // Act
    const load = () => loadConfig('analytics', env);
    const withSchemaUnset = loadConfig('analytics', { ...env, DATABASE_URL: 'postgres://u@h/db' });

    // Assess
    expect(load).toThrow(/DATABASE_URL: set DATABASE_URL or DATABASE_SECRET_ARN/);
    expect(withSchemaUnset.databaseSchema).toBe('batchflow');
  });

  it('ignores variables outside the function contract (a shared local environment)', () => {
    // Prepare: a bad value in a variable the analytics function does not read
    const env = { DATABASE_URL: 'postgres://u@h/db', TUNER_APPLY: 'perhaps', PARTITION_QUEUE_URL: 'not a url' };

    // Act
    const config = loadConfig('analytics', env);

    // Assess
    expect(Object.keys(config).sort()).toEqual(['databaseCopy', 'databaseHost', 'databasePoolSize', 'databaseSchema', 'databaseSecretArn', 'databaseSsl', 'databaseUrl', 'memoryMb']);
  });
});

describe('functionEnvironment: what a deployer gives a function', () => {
  it('passes exactly the variables the function reads', () => {
    // Prepare
    const values = { DATABASE_SECRET_ARN: arn, DATABASE_SCHEMA: 'x', PARTITION_QUEUE_URL: 'https://sqs/q' };

    // Act
    const environment = functionEnvironment('splitter', values);

    // Assess
    expect(environment).toEqual(values);
    expect(() => loadConfig('splitter', environment)).not.toThrow();
  });

  it('refuses a variable the function does not read, a missing required one, and one Lambda sets', () => {
    // Prepare
    const values = { DATABASE_SECRET_ARN: arn, PARTITION_QUEUE_NAME: 'q', AWS_LAMBDA_FUNCTION_NAME: 'x' };

    // Act
    const processor = () => functionEnvironment('processor', values);
    const tuner = () => functionEnvironment('tuner', { DATABASE_SECRET_ARN: arn });
    const noDatabase = () => functionEnvironment('analytics', {});

    // Assess
    expect(processor).toThrow(/processor environment: PARTITION_QUEUE_NAME is not read by processor; AWS_LAMBDA_FUNCTION_NAME is set by Lambda; PARTITION_QUEUE_URL is required/);
    expect(tuner).toThrow(/PROCESSOR_FUNCTION_NAME is required; SPLITTER_FUNCTION_NAME is required/);
    expect(noDatabase).toThrow(/one of DATABASE_URL, DATABASE_SECRET_ARN is required/);
  });

  it('picks each function its own variables from a superset (the local runtime)', () => {
    // Prepare: every variable of every function, each set to a value its loader accepts
    const valid: Record<string, string> = {
      DATABASE_URL: 'postgres://u@h/db',
      PARTITION_QUEUE_URL: 'http://127.0.0.1:4566/q',
      INGEST_QUEUE_URL: 'http://127.0.0.1:4566/i',
      UPLOAD_BUCKET: 'uploads',
      PROCESSOR_FUNCTION_NAME: 'p',
      SPLITTER_FUNCTION_NAME: 's',
      PARTITION_QUEUE_NAME: 'q',
      PARTITION_QUEUE_ARN: queueArn,
      SCHEDULE_GROUP: 'g',
      SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/r',
      ANALYTICS_FUNCTION_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:a',
      LOG_LEVEL: 'debug',
    };
    const names = Object.keys(contract) as AnyFunctionName[];

    // Act
    const environments = names.map((name) => functionEnvironment(name, valid, { pick: true }));

    // Assess
    names.forEach((name, i) => {
      const keys = Object.keys(environments[i]!);
      expect(keys.every((key) => contractVariables(name).includes(key as never))).toBe(true);
      expect(() => loadConfig(name, environments[i]!)).not.toThrow();
    });
    expect(Object.keys(environments[names.indexOf('analytics')]!)).toEqual(['DATABASE_URL']);
  });
});

describe('loadCliEnvironment', () => {
  it("reads a deployed stack's outputs, and defaults the schema and region", () => {
    // Prepare
    const env = {
      DATABASE_URL: 'postgres://u@h/db',
      BATCHFLOW_BUCKET: 'b',
      BATCHFLOW_PROCESSOR_FUNCTION: 'p',
      BATCHFLOW_SPLITTER_FUNCTION: 's',
      BATCHFLOW_PARTITION_QUEUE_ARN: queueArn,
      BATCHFLOW_SCHEDULE_GROUP: 'g',
    };

    // Act
    const cli = loadCliEnvironment(env);

    // Assess
    expect(cli).toMatchObject({ databaseUrl: 'postgres://u@h/db', bucket: 'b', databaseSchema: 'batchflow', region: 'us-east-1', hasAccessKeys: false });
    expect(cli.tuner).toEqual({ processorFunctionName: 'p', splitterFunctionName: 's', partitionQueueArn: queueArn });
    // Schedules need all three of their variables.
    expect(cli.schedules).toBeUndefined();
  });
});
