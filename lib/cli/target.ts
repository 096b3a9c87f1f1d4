import type { JobScheduleSettings } from '../adapters/jobSchedules.ts';
import type { AwsClientOptions } from '../adapters/aws.ts';
import { loadCliEnvironment, type CliEnvironment } from '../config.ts';
import { BatchflowError } from '../errors.ts';
import { resourceName, topology } from '../topology.ts';
import { readLocalState, type LocalState } from './localState.ts';

/** Where the CLI's commands go: a database and AWS clients of its own, or a stack's HTTP API. */
export type Target = DirectTarget | ApiTarget;

/** A target the CLI reaches directly: an AWS endpoint (undefined = AWS itself), a bucket and Postgres. */
export interface DirectTarget {
  readonly endpoint: string | undefined;
  readonly region: string;
  /** How the CLI builds its AWS clients for this target. */
  readonly clients: AwsClientOptions;
  readonly bucket: string | undefined;
  readonly databaseUrl: string;
  readonly databaseSchema: string;
  /** Which kind of target this is, and how it was chosen (see resolveTarget). */
  readonly kind: 'local' | 'database';
  readonly chosenBy: 'flag' | 'environment' | 'default';
  /** A deployed stack's job-schedule settings; absent locally, where the runtime fires schedules. */
  readonly schedules?: JobScheduleSettings;
  /** What `batchflow tune` reads and moves; absent when the environment does not name it. */
  readonly tuner?: TunerResources;
  /** Queue URLs for `retry`, `restart` and `redrive`; absent when the environment does not name them. */
  readonly queues: { readonly ingest?: string | undefined; readonly partitions?: string | undefined };
}

/**
 * A deployed stack reached through its HTTP API (its database sits in isolated subnets), every
 * request signed with SigV4; uploads go to its bucket with the user's own credentials.
 */
export interface ApiTarget {
  readonly kind: 'api';
  readonly chosenBy: 'flag' | 'environment' | 'default';
  /** BATCHFLOW_API_URL, the stack output ApiUrl. */
  readonly apiUrl: URL;
  /** The signing region when the URL's host names none (AWS_REGION, AWS_DEFAULT_REGION). */
  readonly region: string;
  /** How uploads build their S3 client (AWS_ENDPOINT_URL when set: a local stack's endpoint). */
  readonly clients: AwsClientOptions;
  /** BATCHFLOW_BUCKET when set; else the API names its bucket (GET /api/stack). */
  readonly bucket: string | undefined;
}

/** The stack output that holds the HTTP API's URL (infra/pipelineStack.ts). */
export const API_URL_OUTPUT = 'ApiUrl';

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
 * in the environment; `api`, a deployed stack's HTTP API at BATCHFLOW_API_URL.
 */
export const TARGET_KINDS = ['local', 'database', 'api'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** The local endpoint accepts any credentials; the SDK still insists on having some. */
const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/**
 * Resolves the target once. An explicit choice (`--target`, else BATCHFLOW_TARGET) is obeyed or
 * fails naming what it lacks. Without one, a running local stack (its `.batchflow/local.json`
 * with a live process) wins, so `npm run local` in one terminal and `batchflow ...` in another need
 * no flags even with a DATABASE_URL exported for other work; then BATCHFLOW_API_URL (a deployed
 * stack's API, the only way in when its database is in isolated subnets); then DATABASE_URL with the stack
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
  if (requested === 'api') {
    if (!env.apiUrl) throw new CliError(`${how}api needs BATCHFLOW_API_URL (the stack output ${API_URL_OUTPUT}, e.g. https://<id>.execute-api.<region>.amazonaws.com/)`);
    return apiTarget(env, chosenBy);
  }
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
  if (env.apiUrl) return apiTarget(env, chosenBy);
  if (env.databaseUrl) return databaseTarget(env, chosenBy);
  throw new CliError(
    `no running local stack found (.batchflow/local.json), and neither BATCHFLOW_API_URL nor DATABASE_URL is set: start one with \`npm run local\`, or set BATCHFLOW_API_URL (the stack output ${API_URL_OUTPUT}) for a deployed stack`,
  );
}

function apiTarget(env: CliEnvironment, chosenBy: Target['chosenBy']): ApiTarget {
  let apiUrl: URL;
  try {
    apiUrl = new URL(env.apiUrl!);
  } catch {
    throw new CliError(`BATCHFLOW_API_URL "${env.apiUrl}" is not a URL (expected the stack output ${API_URL_OUTPUT})`);
  }
  if (apiUrl.protocol !== 'https:' && apiUrl.protocol !== 'http:') throw new CliError(`BATCHFLOW_API_URL must be an http(s) URL, got ${apiUrl.protocol}`);
  // Signed requests carry their own credentials; a user:password in the URL would be sent too.
  apiUrl.username = '';
  apiUrl.password = '';
  return {
    kind: 'api',
    chosenBy,
    apiUrl,
    region: env.region,
    clients: { ...(env.endpoint ? { endpoint: env.endpoint } : {}), region: env.region },
    bucket: env.bucket,
  };
}

function databaseTarget(env: CliEnvironment, chosenBy: Target['chosenBy']): DirectTarget {
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
  if (target.kind === 'api') {
    const where = [`API ${target.apiUrl.origin}${target.apiUrl.pathname}`, `signing region ${target.region} unless the host names one`];
    if (target.bucket) where.push(`bucket ${target.bucket}`);
    return `target api (${how === 'found' ? 'found BATCHFLOW_API_URL' : how}): ${where.join(', ')}`;
  }
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
export function localTarget(local: LocalState, hasAccessKeys = false, chosenBy: Target['chosenBy'] = 'default'): DirectTarget {
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
