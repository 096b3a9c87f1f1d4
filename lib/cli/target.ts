import type { JobScheduleSettings } from '../adapters/jobSchedules.ts';
import { BatchflowError } from '../errors.ts';
import { resourceName, topology } from '../topology.ts';
import { readLocalState } from './localState.ts';

/** Where the CLI's commands go: an AWS endpoint (undefined = AWS itself), a bucket and Postgres. */
export interface Target {
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string | undefined;
  readonly databaseUrl: string;
  readonly databaseSchema: string;
  readonly source: 'environment' | 'local stack';
  /** A deployed stack's job-schedule settings; absent locally, where the runtime fires schedules. */
  readonly schedules?: JobScheduleSettings;
  /** What `batchflow tune` reads and moves; absent when the environment does not name it. */
  readonly tuner?: TunerResources;
}

/** The physical names the tuner reads metrics of and whose settings it changes. */
export interface TunerResources {
  readonly processorFunctionName: string;
  readonly splitterFunctionName: string;
  readonly partitionQueueName: string;
  readonly partitionQueueArn: string;
}

/** A CLI problem the user can fix; printed without a stack trace. */
export class CliError extends BatchflowError {
  override name = 'CliError';
}

/**
 * Resolves the target once: explicit environment (DATABASE_URL, BATCHFLOW_BUCKET, AWS_ENDPOINT_URL,
 * and for job schedules BATCHFLOW_SCHEDULE_GROUP, BATCHFLOW_SCHEDULER_ROLE_ARN,
 * BATCHFLOW_ANALYTICS_FUNCTION_ARN, for the tuner BATCHFLOW_PROCESSOR_FUNCTION,
 * BATCHFLOW_SPLITTER_FUNCTION and BATCHFLOW_PARTITION_QUEUE_ARN — a deployed stack's outputs) wins; otherwise the running local stack's `.batchflow/local.json`, so
 * `npm run local` in one terminal and `batchflow ...` in another need no flags.
 */
export function resolveTarget(env: NodeJS.ProcessEnv = process.env): Target {
  if (env.DATABASE_URL) {
    return {
      endpoint: env.AWS_ENDPOINT_URL,
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      bucket: env.BATCHFLOW_BUCKET,
      databaseUrl: env.DATABASE_URL,
      databaseSchema: env.DATABASE_SCHEMA ?? 'batchflow',
      source: 'environment',
      ...(env.BATCHFLOW_SCHEDULE_GROUP && env.BATCHFLOW_SCHEDULER_ROLE_ARN && env.BATCHFLOW_ANALYTICS_FUNCTION_ARN
        ? {
            schedules: {
              groupName: env.BATCHFLOW_SCHEDULE_GROUP,
              roleArn: env.BATCHFLOW_SCHEDULER_ROLE_ARN,
              functionArn: env.BATCHFLOW_ANALYTICS_FUNCTION_ARN,
            },
          }
        : {}),
      ...(env.BATCHFLOW_PROCESSOR_FUNCTION && env.BATCHFLOW_SPLITTER_FUNCTION && env.BATCHFLOW_PARTITION_QUEUE_ARN
        ? {
            tuner: {
              processorFunctionName: env.BATCHFLOW_PROCESSOR_FUNCTION,
              splitterFunctionName: env.BATCHFLOW_SPLITTER_FUNCTION,
              // arn:aws:sqs:<region>:<account>:<name>
              partitionQueueName: env.BATCHFLOW_PARTITION_QUEUE_ARN.split(':').pop()!,
              partitionQueueArn: env.BATCHFLOW_PARTITION_QUEUE_ARN,
            },
          }
        : {}),
    };
  }
  const local = readLocalState();
  if (!local) {
    throw new CliError(
      'no running local stack found (.batchflow/local.json) and DATABASE_URL is not set: start one with `npm run local`, or set DATABASE_URL and BATCHFLOW_BUCKET for a deployed stack',
    );
  }
  // The local endpoint accepts any credentials; the SDK still insists on having some.
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  return {
    endpoint: local.endpoint,
    region: local.region,
    bucket: local.bucket,
    databaseUrl: local.databaseUrl,
    databaseSchema: local.databaseSchema,
    source: 'local stack',
    // Local physical names follow from the stage (provisioning names them the same way).
    tuner: {
      processorFunctionName: resourceName(local.stage, topology.functions.processor.id),
      splitterFunctionName: resourceName(local.stage, topology.functions.splitter.id),
      partitionQueueName: local.queues.partitions.arn.split(':').pop()!,
      partitionQueueArn: local.queues.partitions.arn,
    },
  };
}
