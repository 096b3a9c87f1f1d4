import { describe, expect, it } from 'vitest';
import { contract, contractVariables, loadConfig, type VariableName } from '../../../lib/config.ts';
import { allFunctionNames, externalNetwork, logicalId, secretArn, synthesize } from './support.ts';

/** What the construct adds for the runtime itself, not for a loader. */
const PLATFORM = new Set(['POWERTOOLS_SERVICE_NAME', 'NODE_OPTIONS']);

/**
 * A value the loader accepts for each variable the stack fills with a CloudFormation token (a
 * queue URL, an ARN); literal values in the template are checked as they are.
 */
const tokenStandIns: Partial<Record<VariableName, string>> = {
  DATABASE_SECRET_ARN: secretArn,
  DATABASE_HOST: 'proxy.example',
  PARTITION_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
  INGEST_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/i',
  UPLOAD_BUCKET: 'uploads',
  PROCESSOR_FUNCTION_NAME: 'processor',
  SPLITTER_FUNCTION_NAME: 'splitter',
  PARTITION_QUEUE_NAME: 'q',
  PARTITION_QUEUE_ARN: 'arn:aws:sqs:eu-west-1:123456789012:q',
  SCHEDULE_GROUP: 'g',
  SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/r',
  ANALYTICS_FUNCTION_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:a',
};

const shapes: Record<string, Record<string, unknown>> = {
  'a created database behind RDS Proxy': {},
  'a brought database in a VPC': externalNetwork,
  'a brought public database': { databaseSecretArn: secretArn },
  'LocalStack (no TLS)': { localstack: true, databaseSecretArn: secretArn },
};

describe('each function gets exactly the environment its loader reads (lib/config.ts)', () => {
  for (const [shape, context] of Object.entries(shapes)) {
    it(`in the synthesized template: ${shape}`, () => {
      // Prepare
      const { stack, template } = synthesize(context);
      const resources = template.findResources('AWS::Lambda::Function');

      // Act
      const environments = allFunctionNames.map((name) => {
        const variables: Record<string, unknown> = resources[logicalId(stack, stack.functions[name]!.function)]!.Properties.Environment.Variables;
        return { name, variables: Object.fromEntries(Object.entries(variables).filter(([key]) => !PLATFORM.has(key))) };
      });

      // Assess
      for (const { name, variables } of environments) {
        const keys = Object.keys(variables);
        const reads: string[] = contractVariables(name);
        expect(keys.filter((key) => !reads.includes(key)), `${name} is given variables it does not read`).toEqual([]);
        expect(contract[name].required.filter((key) => !keys.includes(key)), `${name} lacks required variables`).toEqual([]);
        for (const group of contract[name].oneOf) expect(group.some((key) => keys.includes(key)), `${name}: one of ${group}`).toBe(true);
        const env = Object.fromEntries(
          Object.entries(variables).map(([key, value]) => [key, typeof value === 'string' ? value : tokenStandIns[key as VariableName]]),
        );
        expect(() => loadConfig(name, env), `${name} loads its template environment`).not.toThrow();
      }
    });
  }
});
