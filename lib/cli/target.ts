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
  /** Which kind of target this is, and how it was chosen (see resolveTarget). */
  readonly kind: TargetKind;
  readonly chosenBy: 'flag' | 'environment' | 'default';
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

/**
 * The targets the CLI can talk to: `local`, the running local stack (`npm run local`, found by its
 * state file); `database`, the Postgres of DATABASE_URL with the AWS resources of the stack outputs
 * in the environment.
 */
export const TARGET_KINDS = ['local', 'database'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** The local endpoint accepts any credentials; the SDK still insists on having some. */
const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/**
 * Resolves the target once. An explicit choice (`--target`, else BATCHFLOW_TARGET) is obeyed or
 * fails naming what it lacks. Without one, a running local stack (its `.batchflow/local.json`
 * with a live process) wins, so `npm run local` in one terminal and `batchflow ...` in another need
 * no flags even with a DATABASE_URL exported for other work; then DATABASE_URL with the stack
 * outputs in the environment (BATCHFLOW_BUCKET, AWS_ENDPOINT_URL, and for job schedules
 * BATCHFLOW_SCHEDULE_GROUP, BATCHFLOW_SCHEDULER_ROLE_ARN, BATCHFLOW_ANALYTICS_FUNCTION_ARN, for the
 * tuner BATCHFLOW_PROCESSOR_FUNCTION, BATCHFLOW_SPLITTER_FUNCTION and BATCHFLOW_PARTITION_QUEUE_ARN,
 * for recovery BATCHFLOW_PARTITION_QUEUE_URL and BATCHFLOW_INGEST_QUEUE_URL).
 */
export function resolveTarget(
  env: CliEnvironment = loadCliEnvironment(),
  readLocal: () => LocalState | undefined = readLocalState,
  flag?: TargetKind,
): Target {
  const requested = flag ?? env.target;
  const chosenBy = flag ? 'flag' : env.target ? 'environment' : 'default';
  const how = flag ? '--target ' : 'BATCHFLOW_TARGET=';
  if (requested === 'database') {
    if (!env.databaseUrl) throw new CliError(`${how}database needs DATABASE_URL (and BATCHFLOW_BUCKET, the stack output BucketName, for uploads)`);
    return databaseTarget(env, chosenBy);
  }
  const local = readLocal();
  if (requested === 'local') {
    if (!local) throw new CliError(`${how}local: no running local stack (.batchflow/local.json is missing or its process has exited): start one with \`npm run local\``);
    return localTarget(local, env.hasAccessKeys, chosenBy);
  }
  if (local) return localTarget(local, env.hasAccessKeys, chosenBy);
  if (env.databaseUrl) return databaseTarget(env, chosenBy);
  throw new CliError(
    'no running local stack found (.batchflow/local.json) and DATABASE_URL is not set: start one with `npm run local`, or set DATABASE_URL and BATCHFLOW_BUCKET for a deployed stack',
  );
}

function databaseTarget(env: CliEnvironment, chosenBy: Target['chosenBy']): Target {
  return {
    endpoint: env.endpoint,
    region: env.region,
    clients: { ...(env.endpoint ? { endpoint: env.endpoint } : {}), region: env.region },
    bucket: env.bucket,
    databaseUrl: env.databaseUrl!,
    databaseSchema: env.databaseSchema,
    kind: 'database',
    chosenBy,
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

/** One line naming the target and how it was chosen, its database URL without a password. */
export function describeTarget(target: Target): string {
  const how = { flag: 'from --target', environment: 'from BATCHFLOW_TARGET', default: 'found' }[target.chosenBy];
  const where = [`database ${redactedUrl(target.databaseUrl)} (schema ${target.databaseSchema})`, `AWS ${target.endpoint ?? `AWS itself (${target.region})`}`];
  if (target.bucket) where.push(`bucket ${target.bucket}`);
  return `target ${target.kind === 'local' ? 'local stack' : 'database'} (${how}): ${where.join(', ')}`;
}

/** A connection URL with any password replaced by `***`, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparseable URL)';
  }
}

/** The target of a running local stack, from its state file. */
export function localTarget(local: LocalState, hasAccessKeys = false, chosenBy: Target['chosenBy'] = 'default'): Target {
  return {
    endpoint: local.endpoint,
    region: local.region,
    clients: { endpoint: local.endpoint, region: local.region, ...(hasAccessKeys ? {} : { credentials: LOCAL_CREDENTIALS }) },
    bucket: local.bucket,
    databaseUrl: local.databaseUrl,
    databaseSchema: local.databaseSchema,
    kind: 'local',
    chosenBy,
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
