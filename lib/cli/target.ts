import { readLocalState } from '../../localstack/state.ts';
import type { JobScheduleSettings } from '../adapters/jobSchedules.ts';
import { BatchflowError } from '../errors.ts';

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
}

/** A CLI problem the user can fix; printed without a stack trace. */
export class CliError extends BatchflowError {
  override name = 'CliError';
}

/**
 * Resolves the target once: explicit environment (DATABASE_URL, BATCHFLOW_BUCKET, AWS_ENDPOINT_URL,
 * and for job schedules BATCHFLOW_SCHEDULE_GROUP, BATCHFLOW_SCHEDULER_ROLE_ARN,
 * BATCHFLOW_ANALYTICS_FUNCTION_ARN — a deployed stack's outputs) wins; otherwise the running local stack's `.batchflow/local.json`, so
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
  };
}
