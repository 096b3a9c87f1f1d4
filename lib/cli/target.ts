import type { JobScheduleSettings } from '../adapters/jobSchedules.ts';
import type { AwsClientOptions } from '../adapters/aws.ts';
import { loadCliEnvironment, type CliEnvironment } from '../config.ts';
import { BatchflowError } from '../errors.ts';
import { resourceName, topology } from '../topology.ts';
import { readLocalState, type LocalState } from './localState.ts';

/** Where the CLI's commands go: an AWS endpoint (undefined = AWS itself), a bucket and Postgres. */
export interface Target {
  readonly endpoint: string | undefined;
  readonly region: string;
  /** How the CLI builds its AWS clients for this target. */
  readonly clients: AwsClientOptions;
  readonly bucket: string | undefined;
  readonly databaseUrl: string;
  readonly databaseSchema: string;
  readonly source: 'environment' | 'local stack';
  /** A deployed stack's job-schedule settings; absent locally, where the runtime fires schedules. */
  readonly schedules?: JobScheduleSettings;
  /** What `batchflow tune` reads and moves; absent when the environment does not name it. */
  readonly tuner?: TunerResources;
  /** Queue URLs for `retry`, `restart` and `redrive`; absent when the environment does not name them. */
  readonly queues: { readonly ingest?: string | undefined; readonly partitions?: string | undefined };
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

/** The local endpoint accepts any credentials; the SDK still insists on having some. */
const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/**
 * Resolves the target once: explicit environment (DATABASE_URL, BATCHFLOW_BUCKET, AWS_ENDPOINT_URL,
 * and for job schedules BATCHFLOW_SCHEDULE_GROUP, BATCHFLOW_SCHEDULER_ROLE_ARN,
 * BATCHFLOW_ANALYTICS_FUNCTION_ARN, for the tuner BATCHFLOW_PROCESSOR_FUNCTION,
 * BATCHFLOW_SPLITTER_FUNCTION and BATCHFLOW_PARTITION_QUEUE_ARN, for recovery
 * BATCHFLOW_PARTITION_QUEUE_URL and BATCHFLOW_INGEST_QUEUE_URL — a deployed stack's outputs)
 * wins; otherwise the running local stack's `.batchflow/local.json`, so `npm run local` in one
 * terminal and `batchflow ...` in another need no flags.
 */
export function resolveTarget(env: CliEnvironment = loadCliEnvironment(), readLocal: () => LocalState | undefined = readLocalState): Target {
  if (env.databaseUrl) {
    return {
      endpoint: env.endpoint,
      region: env.region,
      clients: { ...(env.endpoint ? { endpoint: env.endpoint } : {}), region: env.region },
      bucket: env.bucket,
      databaseUrl: env.databaseUrl,
      databaseSchema: env.databaseSchema,
      source: 'environment',
      queues: env.queues,
      ...(env.schedules ? { schedules: env.schedules } : {}),
      ...(env.tuner
        ? {
            tuner: {
              ...env.tuner,
              // arn:aws:sqs:<region>:<account>:<name>
              partitionQueueName: env.tuner.partitionQueueArn.split(':').pop()!,
            },
          }
        : {}),
    };
  }
  const local = readLocal();
  if (!local) {
    throw new CliError(
      'no running local stack found (.batchflow/local.json) and DATABASE_URL is not set: start one with `npm run local`, or set DATABASE_URL and BATCHFLOW_BUCKET for a deployed stack',
    );
  }
  return localTarget(local, env.hasAccessKeys);
}

/** The target of a running local stack, from its state file. */
export function localTarget(local: LocalState, hasAccessKeys = false): Target {
  return {
    endpoint: local.endpoint,
    region: local.region,
    clients: { endpoint: local.endpoint, region: local.region, ...(hasAccessKeys ? {} : { credentials: LOCAL_CREDENTIALS }) },
    bucket: local.bucket,
    databaseUrl: local.databaseUrl,
    databaseSchema: local.databaseSchema,
    source: 'local stack',
    queues: { ingest: local.queues.ingest.url, partitions: local.queues.partitions.url },
    // Local physical names follow from the stage (provisioning names them the same way).
    tuner: {
      processorFunctionName: resourceName(local.stage, topology.functions.processor.id),
      splitterFunctionName: resourceName(local.stage, topology.functions.splitter.id),
      partitionQueueName: local.queues.partitions.arn.split(':').pop()!,
      partitionQueueArn: local.queues.partitions.arn,
    },
  };
}
