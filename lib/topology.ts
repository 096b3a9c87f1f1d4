/**
 * The one source of truth for batchflow's AWS topology: the bucket, the queues, the functions and
 * the event source mappings between them, with their settings. The CDK stack (`infra/`) and the
 * local runtime (`localstack/`) both build from this object, so what runs locally is wired as it is
 * on AWS.
 *
 * Physical names: on AWS, CloudFormation names the resources (bucket names are global); locally
 * they are `resourceName(stage, logicalName)`.
 */
export const topology = {
  bucket: {
    id: 'Uploads',
    /** Objects under `uploads/<dataset>/...` are ingested. */
    uploadPrefix: 'uploads/',
    /** Decompressed parts of gzip objects, written by the splitter, read by the processor. */
    stagingPrefix: 'staging/',
    /**
     * Versioned, so a job reads the exact version it was opened for (GET with VersionId): an
     * overwrite mid-job becomes a new version and a job of its own instead of mixing bytes.
     * Noncurrent versions expire once no message can still need them (see the stack).
     */
    versioned: true,
  },
  queues: {
    /** S3 ObjectCreated notifications for `uploads/` land here and drive the splitter. */
    ingest: {
      id: 'IngestQueue',
      // AWS guidance: visibility timeout >= 6x the consumer's timeout.
      // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
      visibilityTimeoutSeconds: 6 * 300,
      retentionSeconds: 4 * 24 * 3600,
      maxReceiveCount: 5,
    },
    /** One message per partition of an uploaded object; drives the processor. */
    partitions: {
      id: 'PartitionQueue',
      visibilityTimeoutSeconds: 6 * 300,
      retentionSeconds: 4 * 24 * 3600,
      maxReceiveCount: 5,
    },
  },
  functions: {
    splitter: {
      id: 'Splitter',
      entry: 'functions/splitter.ts',
      memoryMb: 1024,
      timeoutSeconds: 300,
      source: 'ingest',
      batchSize: 1,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: 2,
    },
    processor: {
      id: 'Processor',
      entry: 'functions/processor.ts',
      memoryMb: 1024,
      timeoutSeconds: 300,
      source: 'partitions',
      // A partition is already a batch of ~10^5 records; SQS batching would serialise several of
      // them in one invocation and cost parallelism. The tuner may raise it.
      batchSize: 1,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: 8,
    },
  },
  /** Functions driven by schedules (EventBridge Scheduler on AWS, the local runtime's scheduler locally). */
  scheduled: {
    /** Runs an analytics job for a schedule's fire time; the payload names the job. */
    analytics: {
      id: 'Analytics',
      entry: 'functions/analytics.ts',
      memoryMb: 512,
      timeoutSeconds: 300,
      maxConcurrency: 2,
      /** The EventBridge Scheduler group that holds one schedule per enabled job. */
      scheduleGroup: 'batchflow-jobs',
    },
    /** Reads the metrics and adjusts the processor's mapping, concurrency and the partition size. */
    tuner: {
      id: 'Tuner',
      entry: 'functions/tuner.ts',
      memoryMb: 256,
      timeoutSeconds: 60,
      maxConcurrency: 1,
      /** EventBridge Scheduler expression; the cooldown in the control law is longer than this. */
      schedule: 'rate(5 minutes)',
      /** How far back it looks, and how long after a change it measures the effect. */
      windowSeconds: 900,
      periodSeconds: 60,
    },
    /**
     * Ends what nothing else will (lib/watchdog): splits and partitions whose messages dead-lettered
     * or expired without their failure being recorded. Its time limits follow from the queues'
     * and functions' settings (watchdogTimings).
     */
    watchdog: {
      id: 'Watchdog',
      entry: 'functions/watchdog.ts',
      memoryMb: 256,
      timeoutSeconds: 60,
      maxConcurrency: 1,
      schedule: 'rate(5 minutes)',
    },
    /**
     * Merges the partial aggregates processors append into the compacted rollups (lib/compact),
     * shard by shard; the processor that finishes a job also starts a pass over its dataset.
     * Queries are exact either way: this only keeps the rows they read few.
     */
    compactor: {
      id: 'Compactor',
      entry: 'functions/compactor.ts',
      memoryMb: 256,
      timeoutSeconds: 300,
      maxConcurrency: 1,
      schedule: 'rate(5 minutes)',
    },
    /**
     * Deletes the history that would otherwise grow without end (lib/retention): per-partition
     * metrics, rejected records, analytics runs and finished ingestion jobs past their retention.
     * Aggregates, definitions and the tuner's history are kept.
     */
    retention: {
      id: 'Retention',
      entry: 'functions/retention.ts',
      memoryMb: 256,
      timeoutSeconds: 300,
      maxConcurrency: 1,
      schedule: 'rate(1 day)',
    },
  },
  /** Functions behind the HTTP API (API Gateway on AWS). */
  http: {
    /** Answers GET requests for ingestion jobs, rejects, analytics results and tuning history. */
    api: {
      id: 'Api',
      entry: 'functions/api.ts',
      memoryMb: 512,
      // API Gateway gives up on an integration after 30 s.
      timeoutSeconds: 29,
    },
  },
  /** Functions the stack runs on deploy. */
  deploy: {
    /** Applies the schema migrations (lib/store/schema.ts) before anything else uses the database. */
    migrate: {
      id: 'Migrate',
      entry: 'functions/migrate.ts',
      memoryMb: 256,
      timeoutSeconds: 300,
    },
    /** Makes the job schedules match the jobs table (lib/analytics/syncSchedules.ts). */
    syncSchedules: {
      id: 'SyncSchedules',
      entry: 'functions/syncSchedules.ts',
      memoryMb: 256,
      timeoutSeconds: 120,
    },
  },
  ingest: {
    /** Target size of one byte-range partition (the tuner adjusts it). */
    partitionBytes: 8 * 1024 * 1024,
    /**
     * The longest record accepted. Record boundaries inside a byte range are found by reading at
     * most this far (see lib/process/boundary.ts), so it also bounds the extra bytes a partition reads.
     */
    maxRecordBytes: 256 * 1024,
    /**
     * The most one gzip object may decompress to. A gzip cannot be range-read, so one splitter
     * streams all of it within its 300 s: `npm run bench:gzip` measured gunzip + the part cutter at
     * 65 MB/s on one core here; a 1024 MB Lambda has ~0.6 of a vCPU and stages each 8 MiB part with
     * a PUT, so 4 GiB leaves room. Past it the job fails with the limit named, before a bomb fills
     * memory or the time runs out (the remaining-time check covers a slower run).
     */
    maxDecompressedBytes: 4 * 1024 ** 3,
  },
} as const;

export type Topology = typeof topology;
export type QueueName = keyof Topology['queues'];
/** A queue-driven function. */
export type FunctionName = keyof Topology['functions'];
/** A schedule-driven function. */
export type ScheduledFunctionName = keyof Topology['scheduled'];

/** A function the stack runs on deploy. */
export type DeployFunctionName = keyof Topology['deploy'];
/** A function behind the HTTP API. */
export type HttpFunctionName = keyof Topology['http'];
export type AnyFunctionName = FunctionName | ScheduledFunctionName | HttpFunctionName | DeployFunctionName;

/** Entry, memory and timeout of any function, whatever drives it. */
export function functionSpec(name: AnyFunctionName): { id: string; entry: string; memoryMb: number; timeoutSeconds: number } {
  const all = { ...topology.functions, ...topology.scheduled, ...topology.http, ...topology.deploy };
  return all[name];
}

/**
 * A function's Powertools service name, the `service` key of its log lines: `batchflow-<kebab name>`.
 * The functions' loggers and the stack's POWERTOOLS_SERVICE_NAME both take it from here.
 */
export function serviceName(name: AnyFunctionName): string {
  return `batchflow-${kebab(name)}`;
}

/** The local physical name of a resource: `batchflow-<stage>-<kebab logical name>`. */
export function resourceName(stage: string, logicalId: string): string {
  return `batchflow-${stage}-${kebab(logicalId)}`;
}

/** `syncSchedules`, `PartitionQueue` → `sync-schedules`, `partition-queue`. */
function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** The queue settings the watchdog's limits depend on. */
export interface QueueTimings {
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  readonly maxReceiveCount: number;
}

/**
 * When the watchdog may conclude that no attempt will come any more. An attempt that started more
 * than the function's timeout + the queue's visibility timeout ago, with none after it, was the
 * last: its message dead-lettered (or is about to) without its failure being recorded. After the
 * last allowed receive, the function's timeout alone is enough. A message never received in the
 * queue's retention expired. Margins cover clock skew and a slow database.
 */
export function watchdogTimings(queues: { readonly ingest: QueueTimings; readonly partitions: QueueTimings } = topology.queues) {
  const margin = 300;
  const { splitter, processor } = topology.functions;
  return {
    ingestMaxReceives: queues.ingest.maxReceiveCount,
    splitStaleSeconds: splitter.timeoutSeconds + queues.ingest.visibilityTimeoutSeconds + margin,
    splitLastAttemptStaleSeconds: splitter.timeoutSeconds + margin,
    partitionMaxReceives: queues.partitions.maxReceiveCount,
    partitionStaleSeconds: processor.timeoutSeconds + queues.partitions.visibilityTimeoutSeconds + margin,
    partitionLastAttemptStaleSeconds: processor.timeoutSeconds + margin,
    partitionExpirySeconds: queues.partitions.retentionSeconds,
  };
}

/** What watchdogTimings returns: the watchdog's limits, in seconds (receives as counts). */
export type WatchdogTimings = ReturnType<typeof watchdogTimings>;

/** The DLQ's logical id of a queue. */
export function deadLetterId(queueId: string): string {
  return `${queueId}Dlq`;
}
