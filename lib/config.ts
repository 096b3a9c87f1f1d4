import { z } from 'zod';
import { BatchflowError } from './errors.ts';
import { topology } from './topology.ts';

/**
 * Everything the functions read from their environment, parsed once at cold start and passed
 * down. Nothing below `functions/` reads `process.env`.
 */
export interface Config {
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
  /** Queue the splitter sends partitions to (absent in functions that do not send). */
  readonly partitionQueueUrl: string | undefined;
  readonly partitionBytes: number;
  readonly maxRecordBytes: number;
  /** This function's physical name (Lambda sets it): the `service` dimension of its metrics. */
  readonly functionName: string;
  /** What the tuner watches and moves (the tuner only). */
  readonly tuner: TunerTargets | undefined;
  /** Dataset and job definitions to apply on deploy (the migrate function only): `datasets/`, `jobs/`. */
  readonly definitionsDir: string | undefined;
  /** Where job schedules live (the schedule-sync function only). */
  readonly jobSchedules: { groupName: string; roleArn: string; functionArn: string } | undefined;
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

const positiveInt = z.coerce.number().int().positive();

/** Connections one function instance opens unless DATABASE_POOL_SIZE says otherwise (the stack sizes the database by it). */
export const DEFAULT_DATABASE_POOL_SIZE = 2;

const envSchema = z
  .object({
  DATABASE_URL: z.string().min(1, 'DATABASE_URL is empty').optional(),
  DATABASE_SECRET_ARN: z.string().startsWith('arn:', 'DATABASE_SECRET_ARN must be an ARN').optional(),
  DATABASE_HOST: z.string().min(1, 'DATABASE_HOST is empty').optional(),
  DATABASE_SSL: z.enum(['require', 'disable'], { message: 'DATABASE_SSL must be require or disable' }).default('require'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'DATABASE_SCHEMA must be a lower-case SQL identifier')
    .default('batchflow'),
  DATABASE_POOL_SIZE: positiveInt.default(DEFAULT_DATABASE_POOL_SIZE),
  PARTITION_QUEUE_URL: z.string().url('PARTITION_QUEUE_URL must be a URL').optional(),
  PARTITION_BYTES: positiveInt.default(topology.ingest.partitionBytes),
  MAX_RECORD_BYTES: positiveInt.default(topology.ingest.maxRecordBytes),
  AWS_LAMBDA_FUNCTION_NAME: z.string().min(1).default('batchflow'),
  PROCESSOR_FUNCTION_NAME: z.string().min(1).optional(),
  SPLITTER_FUNCTION_NAME: z.string().min(1).optional(),
  PARTITION_QUEUE_NAME: z.string().min(1).optional(),
  PARTITION_QUEUE_ARN: z.string().startsWith('arn:', 'PARTITION_QUEUE_ARN must be an ARN').optional(),
  TUNER_MAX_CONCURRENCY: positiveInt.optional(),
  TUNER_APPLY: z.enum(['true', 'false'], { message: 'TUNER_APPLY must be true or false' }).default('false'),
  DEFINITIONS_DIR: z.string().min(1).optional(),
  SCHEDULE_GROUP: z.string().min(1).optional(),
  SCHEDULER_ROLE_ARN: z.string().startsWith('arn:', 'SCHEDULER_ROLE_ARN must be an ARN').optional(),
  ANALYTICS_FUNCTION_ARN: z.string().startsWith('arn:', 'ANALYTICS_FUNCTION_ARN must be an ARN').optional(),
  })
  .refine((e) => e.DATABASE_URL || e.DATABASE_SECRET_ARN, {
    message: 'set DATABASE_URL (postgres://user@host:port/db) or DATABASE_SECRET_ARN',
    path: ['DATABASE_URL'],
  });

/** A configuration problem, named by variable. */
export class ConfigError extends BatchflowError {
  override name = 'ConfigError';
}

/** Parses the environment into a Config, failing fast with every problem named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    databaseSecretArn: e.DATABASE_SECRET_ARN,
    databaseHost: e.DATABASE_HOST,
    databaseSsl: e.DATABASE_SSL,
    databaseSchema: e.DATABASE_SCHEMA,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    partitionQueueUrl: e.PARTITION_QUEUE_URL,
    partitionBytes: e.PARTITION_BYTES,
    maxRecordBytes: e.MAX_RECORD_BYTES,
    functionName: e.AWS_LAMBDA_FUNCTION_NAME,
    tuner:
      e.PROCESSOR_FUNCTION_NAME && e.SPLITTER_FUNCTION_NAME && e.PARTITION_QUEUE_NAME && e.PARTITION_QUEUE_ARN
        ? {
            processorFunctionName: e.PROCESSOR_FUNCTION_NAME,
            splitterFunctionName: e.SPLITTER_FUNCTION_NAME,
            partitionQueueName: e.PARTITION_QUEUE_NAME,
            partitionQueueArn: e.PARTITION_QUEUE_ARN,
            apply: e.TUNER_APPLY === 'true',
            maxConcurrency: e.TUNER_MAX_CONCURRENCY,
          }
        : undefined,
    definitionsDir: e.DEFINITIONS_DIR,
    jobSchedules:
      e.SCHEDULE_GROUP && e.SCHEDULER_ROLE_ARN && e.ANALYTICS_FUNCTION_ARN
        ? { groupName: e.SCHEDULE_GROUP, roleArn: e.SCHEDULER_ROLE_ARN, functionArn: e.ANALYTICS_FUNCTION_ARN }
        : undefined,
  };
}
