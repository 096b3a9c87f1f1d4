import { CreateRoleCommand, EntityAlreadyExistsException, GetRoleCommand, type IAMClient } from '@aws-sdk/client-iam';
import {
  CreateEventSourceMappingCommand,
  CreateFunctionCommand,
  GetFunctionCommand,
  ResourceConflictException,
  ResourceNotFoundException,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { findMapping, MappingNotFoundError } from '../../lib/adapters/processorSettings.ts';
import { resourceName, topology, type FunctionName, type QueueName } from '../../lib/topology.ts';
import { storedZip } from './zip.ts';

/** A queue-driven function as registered at the endpoint, with its event source mapping. */
export interface ProvisionedFunction {
  readonly name: string;
  readonly arn: string;
  /** The mapping from the function's queue, created disabled: the local runtime plays it. */
  readonly mappingUuid: string;
}

/** What the functions need from the rest of provisioning. */
export interface FunctionProvisioning {
  readonly stage: string;
  readonly iam: IAMClient;
  readonly lambda: LambdaClient;
  readonly queueArns: Readonly<Record<QueueName, string>>;
}

/** Never run: the local runtime runs the real entry. Real code would fail the same way, clearly. */
const PLACEHOLDER = storedZip({
  'index.mjs': "export const handler = async () => { throw new Error('batchflow: this function runs in the local runtime, not here'); };\n",
});

const LAMBDA_TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/**
 * Registers each of topology's queue-driven functions at the endpoint (placeholder code, the
 * execution role CreateFunction requires) with its event source mapping: topology's BatchSize,
 * MaximumConcurrency and ReportBatchItemFailures, **disabled** — an enabled mapping makes moto
 * consume the queue itself and fail every invoke without Docker. The mapping is where the runtime
 * reads its settings and the tuner writes them, so what exists is kept: a re-run creates only what
 * is missing and never resets a value the tuner changed.
 */
export async function provisionFunctions(options: FunctionProvisioning): Promise<Record<FunctionName, ProvisionedFunction>> {
  const roleArn = await ensureRole(options.iam, resourceName(options.stage, 'FunctionRole'));
  const keys = Object.keys(topology.functions) as FunctionName[];
  const provisioned = await Promise.all(
    keys.map(async (key) => {
      const spec = topology.functions[key];
      const name = resourceName(options.stage, spec.id);
      const arn = await ensureFunction(options.lambda, name, roleArn, spec);
      const mappingUuid = await ensureMapping(options.lambda, name, options.queueArns[spec.source], spec);
      return [key, { name, arn, mappingUuid }] as const;
    }),
  );
  return Object.fromEntries(provisioned) as Record<FunctionName, ProvisionedFunction>;
}

async function ensureRole(iam: IAMClient, roleName: string): Promise<string> {
  try {
    const { Role } = await iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: LAMBDA_TRUST_POLICY }));
    return Role!.Arn!;
  } catch (err) {
    if (!(err instanceof EntityAlreadyExistsException)) throw err;
    const { Role } = await iam.send(new GetRoleCommand({ RoleName: roleName }));
    return Role!.Arn!;
  }
}

type FunctionSpec = (typeof topology.functions)[FunctionName];

async function ensureFunction(lambda: LambdaClient, name: string, roleArn: string, spec: FunctionSpec): Promise<string> {
  const existing = async () => (await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration!.FunctionArn!;
  try {
    return await existing();
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  try {
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Role: roleArn,
        Code: { ZipFile: PLACEHOLDER },
        MemorySize: spec.memoryMb,
        Timeout: spec.timeoutSeconds,
      }),
    );
    return created.FunctionArn!;
  } catch (err) {
    // Another provisioning of the same stage got there first.
    if (err instanceof ResourceConflictException) return existing();
    throw err;
  }
}

async function ensureMapping(lambda: LambdaClient, functionName: string, queueArn: string, spec: FunctionSpec): Promise<string> {
  try {
    return await findMapping(lambda, { functionName, queueArn });
  } catch (err) {
    if (!(err instanceof MappingNotFoundError)) throw err;
  }
  const { UUID } = await lambda.send(
    new CreateEventSourceMappingCommand({
      FunctionName: functionName,
      EventSourceArn: queueArn,
      Enabled: false,
      BatchSize: spec.batchSize,
      MaximumBatchingWindowInSeconds: spec.maxBatchingWindowSeconds,
      ScalingConfig: { MaximumConcurrency: spec.maxConcurrency },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    }),
  );
  return UUID!;
}
