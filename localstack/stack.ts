import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createLambdaClient } from '../lib/adapters/aws.ts';
import type { LocalState } from '../lib/cli/localState.ts';
import { DEFAULTS, functionEnvironment, watchdogDefaults } from '../lib/config.ts';
import { connectDb } from '../lib/store/db.ts';
import { migrate } from '../lib/store/migrate.ts';
import { resourceName, topology, watchdogTimings, type AnyFunctionName, type FunctionName, type ScheduledFunctionName } from '../lib/topology.ts';
import { startLocalScheduler, type LocalScheduler } from './events/schedule/jobScheduler.ts';
import { startSqsPoller, type SqsPoller, type LocalFunction } from './events/sqs/sqsPoller.ts';
import { eventSourceMappings, type MappingSettingsSource } from './events/sqs/mappingSettings.ts';
import { ensureAwsEndpoint } from './services/moto.ts';
import { ensurePostgres } from './services/pglite.ts';
import { provision, type Provisioned, type ProvisionOptions } from './services/provision.ts';
import { removeLocalState, writeLocalState } from './localStateWriter.ts';
import { startLocalHttpApi, type LocalHttpApi } from './events/http/httpApi.ts';
import { describeCompactorRun, describeRetentionRun, describeTunerRun, describeWatchdogRun, startFunctionTimer } from './events/schedule/functionTimer.ts';

export interface LocalStackOptions {
  /** Prefix of every resource name, `batchflow-<stage>-...`. @default 'local' */
  readonly stage?: string;
  /** @default AWS_ENDPOINT_URL, else a moto server (see moto.ts) */
  readonly endpoint?: string;
  /** @default DATABASE_URL, else an embedded PGlite (see pglite.ts) */
  readonly databaseUrl?: string;
  /** @default DATABASE_SCHEMA, else DEFAULTS.databaseSchema (lib/config.ts) */
  readonly databaseSchema?: string;
  /** PGlite's data directory when no database URL is given. @default `.batchflow/pgdata` */
  readonly pgliteDataDir?: string;
  /** Handler modules in place of topology's entries (tests run fixtures). */
  readonly entries?: Partial<Record<FunctionName | ScheduledFunctionName, URL>>;
  /** How often the local scheduler looks for due job schedules. @default 5_000 */
  readonly schedulerTickMs?: number;
  /** Per-queue changes to topology's settings (tests shorten the visibility timeout). */
  readonly queueOverrides?: ProvisionOptions['queueOverrides'];
  /**
   * Where the SQS poller reads batch size and concurrency. @default the event source mappings
   * at the endpoint (created from topology, disabled; the tuner changes them there)
   */
  readonly mappings?: MappingSettingsSource;
  /** How often the runtime publishes the AWS-side metrics to the endpoint's CloudWatch; 0: never. @default 10_000 */
  readonly metricsIntervalMs?: number;
  /**
   * The most invocations of one queue-driven function running at once, below its mapping's
   * maxConcurrency (`npm run local` and the benchmark: localConcurrency()). @default no limit but the mapping's
   */
  readonly maxConcurrentInvocations?: number;
  /**
   * How often the tuner function runs (its schedule on AWS); 0: never. @default 0
   * (`npm run local` runs it every minute).
   */
  readonly tunerIntervalMs?: number;
  /** Let the local tuner apply its recommendations. @default false: a dry run that logs them */
  readonly tunerApply?: boolean;
  /**
   * How often the watchdog function runs (its schedule on AWS); 0: never. @default 0
   * (`npm run local` runs it every minute). Its limits follow from the provisioned queues' settings.
   */
  readonly watchdogIntervalMs?: number;
  /** How often the compactor function runs (its schedule on AWS); 0: never. @default 0 */
  readonly compactorIntervalMs?: number;
  /** How often the retention function runs (daily on AWS); 0: never. @default 0 */
  readonly retentionIntervalMs?: number;
  /**
   * Serve the read-only HTTP API (the `api` function) on this loopback port; 0 picks a free one.
   * @default no HTTP API (`npm run local` serves it on 4567)
   */
  readonly httpApiPort?: number;
  /**
   * `sigv4`: the HTTP API refuses requests not signed with this process's AWS_ACCESS_KEY_ID and
   * AWS_SECRET_ACCESS_KEY (test/test when unset), as IAM authorisation does on AWS.
   * @default unsigned requests are served
   */
  readonly httpApiAuth?: 'sigv4';
  /** Variables added to every function's environment, after its own part of the contract. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Write `.batchflow/local.json` for the CLI (and remove it on stop). @default false */
  readonly writeState?: boolean;
  readonly statePath?: string;
  /** Progress and runtime events. @default no output */
  readonly log?: (line: string) => void;
}

export interface LocalStack {
  readonly state: LocalState;
  readonly provisioned: Provisioned;
  /** Runs the queue-driven functions as their event source mappings do. */
  readonly sqsPoller: SqsPoller;
  readonly scheduler: LocalScheduler;
  /** The HTTP API, when `httpApiPort` was given. */
  readonly httpApi: LocalHttpApi | undefined;
  /** Stops polling, drains invocations in flight, stops the workers, then PGlite and moto if started here. */
  stop(options?: { readonly drainTimeoutMs?: number }): Promise<void>;
}

/**
 * How many invocations of a function `npm run local` runs at once: BATCHFLOW_LOCAL_CONCURRENCY,
 * else one per core. On AWS each of a mapping's maxConcurrency invocations (8 for the processor)
 * has CPU of its own; here they share the machine's cores with Postgres and moto, and eight
 * processors time-sliced on 2 cores took 24.9 s for the high-cardinality bench file where two
 * took 20.0 s (and 22.7 s against 18.9 s on the time-ordered sales file).
 */
export function localConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const set = env.BATCHFLOW_LOCAL_CONCURRENCY;
  if (set === undefined || set === '') return availableParallelism();
  const n = Number(set);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BATCHFLOW_LOCAL_CONCURRENCY must be a whole number ≥ 1, not "${set}"`);
  return n;
}

/** Log settings passed from this process to every function when set. */
const PLATFORM_PASSED_THROUGH = /^(POWERTOOLS_.*|AWS_LAMBDA_LOG_LEVEL|LOG_LEVEL)$/;
/** Tuning knobs passed from this process when set, to the functions whose contract reads them. */
const TUNABLES_PASSED_THROUGH = /^(PARTITION_BYTES|MAX_RECORD_BYTES|MAX_DECOMPRESSED_BYTES|DATABASE_POOL_SIZE)$/;

/**
 * batchflow on one machine, no AWS account and no Docker: an AWS endpoint (moto), Postgres
 * (PGlite), the topology provisioned, the schema migrated, and the functions run by the local
 * SQS poller and the other event sources. Used by `npm run local`, the demo and the integration tests.
 *
 * @example
 * const stack = await startLocalStack({ stage: 'dev', log: console.log });
 * console.log(stack.state.bucket);
 * await stack.stop();
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const stage = options.stage ?? 'local';
  // Room for `batchflow-<stage>-partition-queue-dlq` in SQS's 80 and a bucket name in S3's 63.
  if (!/^[a-z0-9][a-z0-9-]{0,29}$/.test(stage)) throw new Error(`stage "${stage}" must be 1-30 of [a-z0-9-]`);
  const schema = options.databaseSchema ?? process.env.DATABASE_SCHEMA ?? DEFAULTS.databaseSchema;
  const log = options.log ?? (() => {});
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };

  try {
    const [awsStarted, pgStarted] = await Promise.allSettled([
      ensureAwsEndpoint({ endpoint: options.endpoint, log }),
      ensurePostgres({ url: options.databaseUrl, dataDir: options.pgliteDataDir }),
    ]);
    for (const started of [awsStarted, pgStarted]) if (started.status === 'fulfilled') stops.push(started.value.stop);
    if (awsStarted.status === 'rejected') throw awsStarted.reason;
    if (pgStarted.status === 'rejected') throw pgStarted.reason;
    const [aws, pg] = [awsStarted.value, pgStarted.value];
    log(`AWS endpoint ${aws.endpoint} (${aws.source}), Postgres ${pg.url} (${pg.source})`);

    await migrateSchema(pg.url, schema, log);
    const provisioned = await provision({ stage, endpoint: aws.endpoint, region: aws.region, queueOverrides: options.queueOverrides });

    const { functions: registered, queues } = provisioned;
    // What Lambda gives every function on AWS (region, credentials), the local endpoint, log settings.
    const platform: Record<string, string> = {
      ...passedThrough(process.env, PLATFORM_PASSED_THROUGH),
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_REGION: aws.region,
      AWS_DEFAULT_REGION: aws.region,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
      ...(process.env.AWS_SESSION_TOKEN ? { AWS_SESSION_TOKEN: process.env.AWS_SESSION_TOKEN } : {}),
    };
    // Every contract variable that has a value here; each function is given its own part of it
    // (lib/config.ts), as the CDK stack gives it on AWS.
    const values: Record<string, string> = {
      ...passedThrough(process.env, TUNABLES_PASSED_THROUGH),
      DATABASE_URL: pg.url,
      DATABASE_SCHEMA: schema,
      DATABASE_COPY: String(pg.source !== 'pglite'),
      PARTITION_QUEUE_URL: queues.partitions.url,
      INGEST_QUEUE_URL: queues.ingest.url,
      UPLOAD_BUCKET: provisioned.bucket,
      PROCESSOR_FUNCTION_NAME: registered.processor.name,
      SPLITTER_FUNCTION_NAME: registered.splitter.name,
      PARTITION_QUEUE_NAME: queues.partitions.name,
      PARTITION_QUEUE_ARN: queues.partitions.arn,
      TUNER_APPLY: String(options.tunerApply ?? false),
      // The receive limits and the watchdog's times, from the queues as provisioned (tests shorten them).
      ...watchdogDefaults(watchdogTimings({ ingest: queues.ingest.settings, partitions: queues.partitions.settings })),
    };
    const environmentOf = (name: AnyFunctionName): Record<string, string> => ({
      ...platform,
      ...functionEnvironment(name, values, { pick: true }),
      ...options.environment,
    });
    const functions = (Object.keys(topology.functions) as FunctionName[]).map((key): LocalFunction => {
      const fn = topology.functions[key];
      const queue = provisioned.queues[fn.source];
      return {
        name: resourceName(stage, fn.id),
        key,
        entry: options.entries?.[key] ?? new URL(`../${fn.entry}`, import.meta.url),
        queueUrl: queue.url,
        queueArn: queue.arn,
        memoryMb: fn.memoryMb,
        timeoutSeconds: fn.timeoutSeconds,
        environment: environmentOf(key),
      };
    });
    for (const fn of functions) {
      if (!existsSync(fn.entry)) log(`${fn.name}: ${fileURLToPath(fn.entry)} does not exist yet: its invocations will fail`);
    }
    let mappings = options.mappings;
    if (!mappings) {
      const lambdaApi = createLambdaClient({ endpoint: aws.endpoint, region: aws.region });
      stops.push(async () => lambdaApi.destroy());
      const targets = Object.fromEntries(
        functions.map((fn) => {
          const { mappingUuid } = provisioned.functions[fn.key as FunctionName];
          return [fn.key, { functionName: fn.name, queueArn: fn.queueArn, mappingUuid }];
        }),
      );
      mappings = eventSourceMappings(lambdaApi, targets);
    }
    const sqsPoller = await startSqsPoller({
      functions,
      endpoint: aws.endpoint,
      region: aws.region,
      mappings,
      metricsIntervalMs: options.metricsIntervalMs,
      ...(options.maxConcurrentInvocations !== undefined ? { maxConcurrentInvocations: options.maxConcurrentInvocations } : {}),
      log,
    });
    let drainTimeoutMs: number | undefined;
    stops.push(() => sqsPoller.stop({ drainTimeoutMs }));
    const scheduler = startLocalScheduler({
      stage,
      databaseUrl: pg.url,
      databaseSchema: schema,
      region: aws.region,
      entry: options.entries?.analytics ?? new URL(`../${topology.scheduled.analytics.entry}`, import.meta.url),
      environment: environmentOf('analytics'),
      tickMs: options.schedulerTickMs,
      log,
    });
    stops.push(() => scheduler.stop());
    const timers = [
      { name: 'tuner', intervalMs: options.tunerIntervalMs, describe: describeTunerRun(options.tunerApply ?? false) },
      { name: 'watchdog', intervalMs: options.watchdogIntervalMs, describe: describeWatchdogRun },
      { name: 'compactor', intervalMs: options.compactorIntervalMs, describe: describeCompactorRun },
      { name: 'retention', intervalMs: options.retentionIntervalMs, describe: describeRetentionRun },
    ] as const;
    for (const { name, intervalMs, describe } of timers) {
      if (!intervalMs) continue;
      const timer = startFunctionTimer({
        name,
        stage,
        region: aws.region,
        entry: new URL(`../${topology.scheduled[name].entry}`, import.meta.url),
        environment: environmentOf(name),
        intervalMs,
        describe,
        log,
      });
      stops.push(() => timer.stop());
    }

    let httpApi: LocalHttpApi | undefined;
    if (options.httpApiPort !== undefined) {
      httpApi = await startLocalHttpApi({
        stage,
        region: aws.region,
        entry: new URL(`../${topology.http.api.entry}`, import.meta.url),
        environment: environmentOf('api'),
        port: options.httpApiPort,
        log,
        ...(options.httpApiAuth === 'sigv4' ? { auth: { kind: 'sigv4' as const, credentials: { accessKeyId: platform.AWS_ACCESS_KEY_ID!, secretAccessKey: platform.AWS_SECRET_ACCESS_KEY! } } } : {}),
      });
      stops.push(() => httpApi!.stop());
    }

    const state: LocalState = {
      stage,
      endpoint: aws.endpoint,
      region: aws.region,
      databaseUrl: pg.url,
      databaseSchema: schema,
      bucket: provisioned.bucket,
      queues: Object.fromEntries(
        Object.entries(provisioned.queues).map(([name, q]) => [name, { url: q.url, arn: q.arn, deadLetterUrl: q.deadLetter.url }]),
      ) as LocalState['queues'],
      pid: process.pid,
      startedAt: new Date().toISOString(),
    };
    if (options.writeState) {
      writeLocalState(state, options.statePath);
      const onExit = () => removeLocalState(options.statePath);
      process.on('exit', onExit);
      stops.push(async () => (process.off('exit', onExit), onExit()));
    }

    return {
      state,
      provisioned,
      sqsPoller,
      scheduler,
      httpApi,
      async stop(stopOptions = {}) {
        drainTimeoutMs = stopOptions.drainTimeoutMs;
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function passedThrough(env: NodeJS.ProcessEnv, names: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => names.test(e[0]) && e[1] !== undefined));
}

/** Creates the schema and tables (lib/store/migrate.ts). */
async function migrateSchema(url: string, schema: string, log: (line: string) => void): Promise<void> {
  const db = connectDb({ url, schema, max: 1 });
  try {
    const applied = await migrate(db);
    if (applied.length > 0) log(`schema ${schema}: applied migrations ${applied.join(', ')}`);
  } finally {
    await db.close();
  }
}
