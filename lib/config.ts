import { z } from 'zod';
import { BatchflowError } from './errors.ts';
import { topology, watchdogTimings, type AnyFunctionName, type WatchdogTimings } from './topology.ts';

/**
 * The one environment contract. Each function declares here the variables it reads, with their
 * types and defaults; its loader parses exactly those, once at cold start, and the config is
 * passed down from there. The CDK stack (`infra/`) and the local runtime (`localstack/`) both
 * build each function's environment with `functionEnvironment`, so a variable a deployer forgets is
 * a synth error, not a cold-start failure on AWS. Outside this file nothing under `lib/` reads
 * `process.env`.
 */

/** Defaults that more than one place needs: the functions, the CLI and the local runtime. */
export const DEFAULTS = {
  /** The Postgres schema holding batchflow's tables. */
  databaseSchema: 'batchflow',
  /** Connections one function instance opens (the stack sizes the database by it). */
  databasePoolSize: 2,
  /**
   * Rejected records a processor stores per partition; all are counted in records_rejected. Each
   * takes up to ~1,000 characters of raw text: 1,000 bound a partition's rejects to ~2 MB.
   */
  maxStoredRejects: 1000,
  /**
   * Cells a processor's aggregator holds before it appends them as partial rows and goes on with a
   * fresh one: ~150 bytes each (a 64-byte record, a sketch table of at least 8 bins, a share of its
   * group's keys), so ~40 MiB whatever a partition's group count. Flushing more often changes no
   * result (partial rows merge like any others), only the rows left for the compactor.
   */
  partialFlushCells: 262_144,
  /** Where clients go when the environment names no region (moto and LocalStack accept any). */
  region: 'us-east-1',
} as const;


const positiveInt = z.coerce.number().int().positive();
const arn = (name: string) => z.string().startsWith('arn:', `${name} must be an ARN`);
const nonEmpty = (name: string) => z.string().min(1, `${name} is empty`);

/** Every variable any function reads, with its type. Whether a function needs it is in `contract`. */
const variables = {
  DATABASE_URL: nonEmpty('DATABASE_URL'),
  DATABASE_SECRET_ARN: arn('DATABASE_SECRET_ARN'),
  DATABASE_HOST: nonEmpty('DATABASE_HOST'),
  DATABASE_SSL: z.enum(['require', 'disable'], { message: 'DATABASE_SSL must be require or disable' }),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'DATABASE_SCHEMA must be a lower-case SQL identifier'),
  DATABASE_POOL_SIZE: positiveInt,
  DATABASE_COPY: z.enum(['true', 'false'], { message: 'DATABASE_COPY must be true or false' }),
  PARTITION_QUEUE_URL: z.string().url('PARTITION_QUEUE_URL must be a URL'),
  INGEST_QUEUE_URL: z.string().url('INGEST_QUEUE_URL must be a URL'),
  UPLOAD_BUCKET: nonEmpty('UPLOAD_BUCKET'),
  PARTITION_BYTES: positiveInt,
  MAX_RECORD_BYTES: positiveInt,
  MAX_DECOMPRESSED_BYTES: positiveInt,
  MAX_STORED_REJECTS: z.coerce.number().int().nonnegative(),
  PARTIAL_FLUSH_CELLS: positiveInt,
  COMPACT_AFTER_JOB: z.enum(['true', 'false'], { message: 'COMPACT_AFTER_JOB must be true or false' }),
  PROCESSOR_FUNCTION_NAME: nonEmpty('PROCESSOR_FUNCTION_NAME'),
  SPLITTER_FUNCTION_NAME: nonEmpty('SPLITTER_FUNCTION_NAME'),
  PARTITION_QUEUE_NAME: nonEmpty('PARTITION_QUEUE_NAME'),
  PARTITION_QUEUE_ARN: arn('PARTITION_QUEUE_ARN'),
  TUNER_MAX_CONCURRENCY: positiveInt,
  TUNER_APPLY: z.enum(['true', 'false'], { message: 'TUNER_APPLY must be true or false' }),
  DEFINITIONS_DIR: nonEmpty('DEFINITIONS_DIR'),
  SCHEDULE_GROUP: nonEmpty('SCHEDULE_GROUP'),
  SCHEDULER_ROLE_ARN: arn('SCHEDULER_ROLE_ARN'),
  ANALYTICS_FUNCTION_ARN: arn('ANALYTICS_FUNCTION_ARN'),
  INGEST_MAX_RECEIVES: positiveInt,
  PARTITION_MAX_RECEIVES: positiveInt,
  SPLIT_STALE_SECONDS: positiveInt,
  SPLIT_LAST_ATTEMPT_STALE_SECONDS: positiveInt,
  PARTITION_STALE_SECONDS: positiveInt,
  PARTITION_LAST_ATTEMPT_STALE_SECONDS: positiveInt,
  PARTITION_EXPIRY_SECONDS: positiveInt,
  // Set by Lambda itself (and by the local runtime's workers), never by a deployer.
  AWS_LAMBDA_FUNCTION_NAME: nonEmpty('AWS_LAMBDA_FUNCTION_NAME'),
  AWS_REGION: nonEmpty('AWS_REGION'),
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: positiveInt,
} as const;

/** A variable of the contract. */
export type VariableName = keyof typeof variables;

/** What an optional variable is when unset; a variable with no default here is undefined then. */
const defaults: Partial<Record<VariableName, string>> = {
  DATABASE_SSL: 'require',
  DATABASE_SCHEMA: DEFAULTS.databaseSchema,
  DATABASE_POOL_SIZE: String(DEFAULTS.databasePoolSize),
  DATABASE_COPY: 'true',
  PARTITION_BYTES: String(topology.ingest.partitionBytes),
  MAX_RECORD_BYTES: String(topology.ingest.maxRecordBytes),
  MAX_DECOMPRESSED_BYTES: String(topology.ingest.maxDecompressedBytes),
  MAX_STORED_REJECTS: String(DEFAULTS.maxStoredRejects),
  PARTIAL_FLUSH_CELLS: String(DEFAULTS.partialFlushCells),
  COMPACT_AFTER_JOB: 'true',
  TUNER_APPLY: 'false',
  AWS_LAMBDA_FUNCTION_NAME: 'batchflow',
  ...watchdogDefaults(watchdogTimings()),
};

/** The watchdog's limits as variables: the topology's by default; the local runtime passes its queues' own. */
export function watchdogDefaults(t: WatchdogTimings) {
  return {
    INGEST_MAX_RECEIVES: String(t.ingestMaxReceives),
    PARTITION_MAX_RECEIVES: String(t.partitionMaxReceives),
    SPLIT_STALE_SECONDS: String(t.splitStaleSeconds),
    SPLIT_LAST_ATTEMPT_STALE_SECONDS: String(t.splitLastAttemptStaleSeconds),
    PARTITION_STALE_SECONDS: String(t.partitionStaleSeconds),
    PARTITION_LAST_ATTEMPT_STALE_SECONDS: String(t.partitionLastAttemptStaleSeconds),
    PARTITION_EXPIRY_SECONDS: String(t.partitionExpirySeconds),
  } satisfies Partial<Record<VariableName, string>>;
}

/** Variables Lambda sets in every function; a deployer may not set them. */
export const LAMBDA_PROVIDED: readonly VariableName[] = ['AWS_LAMBDA_FUNCTION_NAME', 'AWS_REGION', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE'];

/** One function's part of the contract. */
export interface FunctionContract {
  /** Variables it cannot start without. */
  readonly required: readonly VariableName[];
  /** Variables it reads when set (with the default above otherwise). */
  readonly optional: readonly VariableName[];
  /** Groups of which at least one must be set. */
  readonly oneOf: readonly (readonly VariableName[])[];
}

const database = {
  optional: ['DATABASE_URL', 'DATABASE_SECRET_ARN', 'DATABASE_HOST', 'DATABASE_SSL', 'DATABASE_SCHEMA', 'DATABASE_POOL_SIZE', 'DATABASE_COPY'],
  // A postgres:// URL locally; on AWS the RDS secret.
  oneOf: [['DATABASE_URL', 'DATABASE_SECRET_ARN']],
} as const;

/** Per function: the variables its loader reads. */
export const contract: Readonly<Record<AnyFunctionName, FunctionContract>> = {
  // The receive limits: the last delivery of a message records its failure before it dead-letters.
  splitter: {
    ...database,
    required: ['PARTITION_QUEUE_URL'],
    optional: [...database.optional, 'PARTITION_BYTES', 'MAX_RECORD_BYTES', 'MAX_DECOMPRESSED_BYTES', 'INGEST_MAX_RECEIVES', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE'],
  },
  // The processor's own queue: it shortens a message's visibility after transient database errors.
  processor: {
    ...database,
    required: ['PARTITION_QUEUE_URL'],
    optional: [...database.optional, 'MAX_RECORD_BYTES', 'MAX_STORED_REJECTS', 'PARTIAL_FLUSH_CELLS', 'COMPACT_AFTER_JOB', 'PARTITION_MAX_RECEIVES', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE'],
  },
  // The memory size: resource_usage compares the high-water mark with it.
  analytics: { ...database, required: [], optional: [...database.optional, 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE'] },
  // retry and restart re-send partition messages; POST /api/batch-jobs sends notifications to the
  // ingest queue for objects of the upload bucket, with the splitter's partition limits; GET
  // /api/stack names the bucket and region for uploads; on AWS it keeps analytics schedules as the
  // CLI does (all three schedule variables, or none: locally the runtime fires jobs from the table);
  // the tuning routes read and move what the tuner does.
  api: {
    ...database,
    required: ['PARTITION_QUEUE_URL', 'INGEST_QUEUE_URL', 'UPLOAD_BUCKET', 'PROCESSOR_FUNCTION_NAME', 'SPLITTER_FUNCTION_NAME', 'PARTITION_QUEUE_NAME', 'PARTITION_QUEUE_ARN'],
    optional: [...database.optional, 'AWS_REGION', 'PARTITION_BYTES', 'MAX_RECORD_BYTES', 'SCHEDULE_GROUP', 'SCHEDULER_ROLE_ARN', 'ANALYTICS_FUNCTION_ARN', 'TUNER_MAX_CONCURRENCY'],
  },
  watchdog: {
    ...database,
    required: [],
    optional: [
      ...database.optional,
      'INGEST_MAX_RECEIVES',
      'PARTITION_MAX_RECEIVES',
      'SPLIT_STALE_SECONDS',
      'SPLIT_LAST_ATTEMPT_STALE_SECONDS',
      'PARTITION_STALE_SECONDS',
      'PARTITION_LAST_ATTEMPT_STALE_SECONDS',
      'PARTITION_EXPIRY_SECONDS',
    ],
  },
  compactor: { ...database, required: [], optional: [...database.optional, 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE'] },
  retention: { ...database, required: [] },
  migrate: { ...database, required: [], optional: [...database.optional, 'DEFINITIONS_DIR'] },
  syncSchedules: { ...database, required: ['SCHEDULE_GROUP', 'SCHEDULER_ROLE_ARN', 'ANALYTICS_FUNCTION_ARN'] },
  tuner: {
    ...database,
    required: ['PROCESSOR_FUNCTION_NAME', 'SPLITTER_FUNCTION_NAME', 'PARTITION_QUEUE_NAME', 'PARTITION_QUEUE_ARN'],
    optional: [...database.optional, 'PARTITION_BYTES', 'TUNER_APPLY', 'TUNER_MAX_CONCURRENCY'],
  },
};

/** Every variable a function's loader reads, required first. */
export function contractVariables(name: AnyFunctionName): VariableName[] {
  return [...contract[name].required, ...contract[name].optional];
}

/** A configuration problem, named by variable. */
export class ConfigError extends BatchflowError {
  override name = 'ConfigError';
}

/**
 * The environment a deployer gives function `name`: the contract's variables found in `values`,
 * nothing else. Fails, naming them, when a required variable is missing or when `values` sets a
 * variable the function does not read (unless `pick` says `values` is a superset, as the local
 * runtime's is). Values are not checked here: on AWS they are CloudFormation tokens until deploy;
 * the loader checks them at cold start.
 *
 * @example
 * environment: functionEnvironment('splitter', { ...database.environment(), PARTITION_QUEUE_URL: queue.queueUrl })
 */
export function functionEnvironment(
  name: AnyFunctionName,
  values: Readonly<Record<string, string | undefined>>,
  options: { readonly pick?: boolean } = {},
): Record<string, string> {
  const reads = new Set<string>(contractVariables(name));
  const problems: string[] = [];
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if ((LAMBDA_PROVIDED as readonly string[]).includes(key)) problems.push(`${key} is set by Lambda`);
    else if (reads.has(key)) environment[key] = value;
    else if (!options.pick) problems.push(`${key} is not read by ${name}`);
  }
  for (const key of contract[name].required) if (!(key in environment)) problems.push(`${key} is required`);
  for (const group of contract[name].oneOf) {
    if (!group.some((key) => key in environment)) problems.push(`one of ${group.join(', ')} is required`);
  }
  if (problems.length > 0) throw new ConfigError(`${name} environment: ${problems.join('; ')}`);
  return environment;
}

/** The parsed variables of one function: each one the contract gives it, typed. */
type Parsed = { [K in VariableName]: z.output<(typeof variables)[K]> };

function parse(name: AnyFunctionName, env: NodeJS.ProcessEnv): Parsed {
  const shape: Record<string, z.ZodType> = {};
  for (const key of contract[name].required) shape[key] = variables[key];
  for (const key of contract[name].optional) {
    const fallback = defaults[key];
    const type: z.ZodType = variables[key];
    shape[key] = fallback === undefined ? type.optional() : type.default(type.parse(fallback));
  }
  const oneOf = contract[name].oneOf;
  const schema = z.object(shape).superRefine((e, ctx) => {
    for (const group of oneOf) {
      if (!group.some((key) => e[key] !== undefined)) {
        ctx.addIssue({ code: 'custom', path: [group[0]!], message: `set ${group.join(' or ')}` });
      }
    }
  });
  // Empty strings are how shells and CloudFormation unset a variable.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration of ${name}: ${problems.join('; ')}`);
  }
  return parsed.data as Parsed;
}

/** How a function reaches its database. */
export interface DatabaseConfig {
  /** A postgres:// URL (local, tests), or undefined when the URL comes from `databaseSecretArn`. */
  readonly databaseUrl: string | undefined;
  /** On AWS: a Secrets Manager secret in the RDS format ({host, port, username, password, dbname}). */
  readonly databaseSecretArn: string | undefined;
  /**
   * Where to connect instead of the secret's `host`: the RDS Proxy endpoint. RDS keeps the
   * cluster's own endpoint in the secret, and connecting there would bypass the proxy's pooling.
   */
  readonly databaseHost: string | undefined;
  /** TLS to the database when the URL comes from the secret: `require` on AWS (RDS Proxy needs it). */
  readonly databaseSsl: 'require' | 'disable';
  /** Postgres schema holding batchflow's tables (tests use one schema per file). */
  readonly databaseSchema: string;
  /** Largest number of connections one function instance opens. */
  readonly databasePoolSize: number;
  /** Whether the server takes COPY FROM STDIN (false for PGlite, the local runtime's embedded database). */
  readonly databaseCopy: boolean;
}

/** What a function whose invocations are recorded in resource_usage knows of its runtime. */
export interface RecordedConfig {
  /** The configured memory (Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE); undefined when not run by Lambda or the local runtime. */
  readonly memoryMb: number | undefined;
}

/** The splitter: where partitions go and how large they are. */
export interface SplitterConfig extends DatabaseConfig, RecordedConfig {
  readonly partitionQueueUrl: string;
  /** The ingest queue's receives before the DLQ. */
  readonly maxReceives: number;
  readonly partitionBytes: number;
  readonly maxRecordBytes: number;
  readonly maxDecompressedBytes: number;
}

/** The processor. */
export interface ProcessorConfig extends DatabaseConfig, RecordedConfig {
  /** The queue it consumes, for ChangeMessageVisibility after transient database errors. */
  readonly partitionQueueUrl: string;
  readonly maxRecordBytes: number;
  /** Rejected records stored per partition (all are counted). */
  readonly maxStoredRejects: number;
  /** Cells held in memory before they are appended as partial rows (DEFAULTS.partialFlushCells). */
  readonly flushCells: number;
  /** Whether the processor whose partition finishes a job compacts its dataset right after. */
  readonly compactAfterJob: boolean;
  /** The partition queue's receives before the DLQ. */
  readonly maxReceives: number;
  /** This function's physical name (Lambda sets it): the `service` dimension of its metrics. */
  readonly functionName: string;
}

/** The tuner: what it watches and moves. */
export interface TunerConfig extends DatabaseConfig {
  /** The partition size until the tuner has chosen one. */
  readonly partitionBytes: number;
  readonly tuner: TunerTargets;
}

/** The resources the tuner reads metrics of and whose settings it changes. */
export interface TunerTargets {
  readonly processorFunctionName: string;
  readonly splitterFunctionName: string;
  readonly partitionQueueName: string;
  readonly partitionQueueArn: string;
  /** false: recommend only (dry run). */
  readonly apply: boolean;
  /**
   * The highest maximum concurrency the tuner may set: what the database's connections allow
   * (infra/sizing.ts). Undefined: the control law's own bound.
   */
  readonly maxConcurrency: number | undefined;
}

/** The API: the queue retry and restart send to, where jobs it opens start, the schedules it keeps, and what the tuning routes watch and move. */
export interface ApiConfig extends DatabaseConfig {
  readonly partitionQueueUrl: string;
  readonly ingestQueueUrl: string;
  /** Where jobs it opens read, and where `batchflow upload --target api` puts files (GET /api/stack). */
  readonly uploadBucket: string;
  /** As the tuner's, without `apply`: POST /api/tuning/apply applies, the GET routes never do. */
  readonly tuner: Omit<TunerTargets, 'apply'>;
  readonly region: string | undefined;
  /** The splitter's: a job's default partition size, and the record limit its size must exceed twice. */
  readonly partitionBytes: number;
  readonly maxRecordBytes: number;
  /** Undefined: no EventBridge schedules (the local runtime fires jobs itself). */
  readonly jobSchedules: SyncSchedulesConfig['jobSchedules'] | undefined;
}

/** The watchdog: when it may conclude that nothing will try a split or a partition again. */
export interface WatchdogConfig extends DatabaseConfig {
  readonly limits: WatchdogTimings;
}

/** The migrate function. */
export interface MigrateConfig extends DatabaseConfig {
  /** Dataset and job definitions to apply on deploy: `datasets/`, `jobs/`. */
  readonly definitionsDir: string | undefined;
}

/** The schedule-sync function: where job schedules live. */
export interface SyncSchedulesConfig extends DatabaseConfig {
  readonly jobSchedules: { readonly groupName: string; readonly roleArn: string; readonly functionArn: string };
}

function databaseConfig(e: Parsed): DatabaseConfig {
  return {
    databaseUrl: e.DATABASE_URL,
    databaseSecretArn: e.DATABASE_SECRET_ARN,
    databaseHost: e.DATABASE_HOST,
    databaseSsl: e.DATABASE_SSL,
    databaseSchema: e.DATABASE_SCHEMA,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseCopy: e.DATABASE_COPY === 'true',
  };
}

const loaders = {
  splitter: (e: Parsed): SplitterConfig => ({
    ...databaseConfig(e),
    partitionQueueUrl: e.PARTITION_QUEUE_URL,
    partitionBytes: e.PARTITION_BYTES,
    maxRecordBytes: e.MAX_RECORD_BYTES,
    maxDecompressedBytes: e.MAX_DECOMPRESSED_BYTES,
    maxReceives: e.INGEST_MAX_RECEIVES,
    memoryMb: e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  }),
  processor: (e: Parsed): ProcessorConfig => ({
    ...databaseConfig(e),
    partitionQueueUrl: e.PARTITION_QUEUE_URL,
    maxRecordBytes: e.MAX_RECORD_BYTES,
    maxStoredRejects: e.MAX_STORED_REJECTS,
    flushCells: e.PARTIAL_FLUSH_CELLS,
    compactAfterJob: e.COMPACT_AFTER_JOB === 'true',
    maxReceives: e.PARTITION_MAX_RECEIVES,
    functionName: e.AWS_LAMBDA_FUNCTION_NAME,
    memoryMb: e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  }),
  analytics: (e: Parsed): DatabaseConfig & RecordedConfig => ({ ...databaseConfig(e), memoryMb: e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE }),
  compactor: (e: Parsed): DatabaseConfig & RecordedConfig => ({ ...databaseConfig(e), memoryMb: e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE }),
  retention: (e: Parsed): DatabaseConfig => databaseConfig(e),
  api: (e: Parsed): ApiConfig => {
    const schedules = [e.SCHEDULE_GROUP, e.SCHEDULER_ROLE_ARN, e.ANALYTICS_FUNCTION_ARN];
    if (schedules.some((v) => v !== undefined) && !schedules.every((v) => v !== undefined)) {
      throw new ConfigError('invalid configuration of api: set all of SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and ANALYTICS_FUNCTION_ARN, or none');
    }
    return {
      ...databaseConfig(e),
      partitionQueueUrl: e.PARTITION_QUEUE_URL,
      ingestQueueUrl: e.INGEST_QUEUE_URL,
      uploadBucket: e.UPLOAD_BUCKET,
      region: e.AWS_REGION,
      partitionBytes: e.PARTITION_BYTES,
      maxRecordBytes: e.MAX_RECORD_BYTES,
      jobSchedules: e.SCHEDULE_GROUP === undefined ? undefined : { groupName: e.SCHEDULE_GROUP, roleArn: e.SCHEDULER_ROLE_ARN, functionArn: e.ANALYTICS_FUNCTION_ARN },
      tuner: {
        processorFunctionName: e.PROCESSOR_FUNCTION_NAME,
        splitterFunctionName: e.SPLITTER_FUNCTION_NAME,
        partitionQueueName: e.PARTITION_QUEUE_NAME,
        partitionQueueArn: e.PARTITION_QUEUE_ARN,
        maxConcurrency: e.TUNER_MAX_CONCURRENCY,
      },
    };
  },
  watchdog: (e: Parsed): WatchdogConfig => ({
    ...databaseConfig(e),
    limits: {
      ingestMaxReceives: e.INGEST_MAX_RECEIVES,
      partitionMaxReceives: e.PARTITION_MAX_RECEIVES,
      splitStaleSeconds: e.SPLIT_STALE_SECONDS,
      splitLastAttemptStaleSeconds: e.SPLIT_LAST_ATTEMPT_STALE_SECONDS,
      partitionStaleSeconds: e.PARTITION_STALE_SECONDS,
      partitionLastAttemptStaleSeconds: e.PARTITION_LAST_ATTEMPT_STALE_SECONDS,
      partitionExpirySeconds: e.PARTITION_EXPIRY_SECONDS,
    },
  }),
  migrate: (e: Parsed): MigrateConfig => ({ ...databaseConfig(e), definitionsDir: e.DEFINITIONS_DIR }),
  syncSchedules: (e: Parsed): SyncSchedulesConfig => ({
    ...databaseConfig(e),
    jobSchedules: { groupName: e.SCHEDULE_GROUP, roleArn: e.SCHEDULER_ROLE_ARN, functionArn: e.ANALYTICS_FUNCTION_ARN },
  }),
  tuner: (e: Parsed): TunerConfig => ({
    ...databaseConfig(e),
    partitionBytes: e.PARTITION_BYTES,
    tuner: {
      processorFunctionName: e.PROCESSOR_FUNCTION_NAME,
      splitterFunctionName: e.SPLITTER_FUNCTION_NAME,
      partitionQueueName: e.PARTITION_QUEUE_NAME,
      partitionQueueArn: e.PARTITION_QUEUE_ARN,
      apply: e.TUNER_APPLY === 'true',
      maxConcurrency: e.TUNER_MAX_CONCURRENCY,
    },
  }),
} satisfies Record<AnyFunctionName, (e: Parsed) => DatabaseConfig>;

/** The config of function `name`. */
export type FunctionConfig<N extends AnyFunctionName> = ReturnType<(typeof loaders)[N]>;

/**
 * Parses function `name`'s variables (and only those) into its config, failing fast with every
 * problem named by variable.
 *
 * @example
 * const config = loadConfig('splitter'); // config.partitionQueueUrl: string
 */
export function loadConfig<N extends AnyFunctionName>(name: N, env: NodeJS.ProcessEnv = process.env): FunctionConfig<N> {
  return loaders[name](parse(name, env)) as FunctionConfig<N>;
}

/**
 * What the `batchflow` CLI reads from its environment: a deployed stack's outputs, or nothing
 * (then it finds the running local stack).
 */
export interface CliEnvironment {
  /** BATCHFLOW_TARGET: which target to use when no `--target` is given (see resolveTarget). */
  readonly target: 'local' | 'database' | 'api' | undefined;
  /** BATCHFLOW_API_URL: a deployed stack's HTTP API (its ApiUrl output), for the `api` target. */
  readonly apiUrl: string | undefined;
  readonly databaseUrl: string | undefined;
  readonly databaseSchema: string;
  readonly bucket: string | undefined;
  readonly endpoint: string | undefined;
  readonly region: string;
  /** Whether the environment holds access keys (the local stack accepts any, but the SDK insists on some). */
  readonly hasAccessKeys: boolean;
  readonly schedules: { readonly groupName: string; readonly roleArn: string; readonly functionArn: string } | undefined;
  readonly tuner:
    | { readonly processorFunctionName: string; readonly splitterFunctionName: string; readonly partitionQueueArn: string }
    | undefined;
  /** The queues `retry`, `restart` and `redrive` send to (a deployed stack's outputs). */
  readonly queues: { readonly ingest: string | undefined; readonly partitions: string | undefined };
}

/** Reads the CLI's environment (see README "CLI"); every variable is optional. */
export function loadCliEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const set = (key: string) => (env[key] ? env[key] : undefined);
  const all = <K extends string>(...keys: K[]) => (keys.every((k) => set(k)) ? (Object.fromEntries(keys.map((k) => [k, env[k]!])) as Record<K, string>) : undefined);
  const schedules = all('BATCHFLOW_SCHEDULE_GROUP', 'BATCHFLOW_SCHEDULER_ROLE_ARN', 'BATCHFLOW_ANALYTICS_FUNCTION_ARN');
  const tuner = all('BATCHFLOW_PROCESSOR_FUNCTION', 'BATCHFLOW_SPLITTER_FUNCTION', 'BATCHFLOW_PARTITION_QUEUE_ARN');
  const target = set('BATCHFLOW_TARGET');
  if (target !== undefined && target !== 'local' && target !== 'database' && target !== 'api') {
    throw new ConfigError(`BATCHFLOW_TARGET: "${target}" is not a target (expected local, database or api)`);
  }
  return {
    target,
    apiUrl: set('BATCHFLOW_API_URL'),
    databaseUrl: set('DATABASE_URL'),
    databaseSchema: set('DATABASE_SCHEMA') ?? DEFAULTS.databaseSchema,
    bucket: set('BATCHFLOW_BUCKET'),
    endpoint: set('AWS_ENDPOINT_URL'),
    region: set('AWS_REGION') ?? set('AWS_DEFAULT_REGION') ?? DEFAULTS.region,
    hasAccessKeys: Boolean(set('AWS_ACCESS_KEY_ID') && set('AWS_SECRET_ACCESS_KEY')),
    schedules: schedules && {
      groupName: schedules.BATCHFLOW_SCHEDULE_GROUP,
      roleArn: schedules.BATCHFLOW_SCHEDULER_ROLE_ARN,
      functionArn: schedules.BATCHFLOW_ANALYTICS_FUNCTION_ARN,
    },
    queues: { ingest: set('BATCHFLOW_INGEST_QUEUE_URL'), partitions: set('BATCHFLOW_PARTITION_QUEUE_URL') },
    tuner: tuner && {
      processorFunctionName: tuner.BATCHFLOW_PROCESSOR_FUNCTION,
      splitterFunctionName: tuner.BATCHFLOW_SPLITTER_FUNCTION,
      partitionQueueArn: tuner.BATCHFLOW_PARTITION_QUEUE_ARN,
    },
  };
}
