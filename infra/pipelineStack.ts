import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnSchedule, CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { BlockPublicAccess, Bucket, BucketEncryption, EventType, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Trigger } from 'aws-cdk-lib/triggers';
import type { Construct } from 'constructs';
import { DEFAULTS } from '../lib/config.ts';
import { deadLetterId, functionSpec, topology, type AnyFunctionName, type QueueName } from '../lib/topology.ts';
import { defaultBounds } from '../lib/tune/controlLaw.ts';
import { BatchflowFunction, type BatchflowFunctionProps } from './constructs/batchflowFunction.ts';
import { BatchflowDatabase } from './constructs/database.ts';
import { Monitoring } from './constructs/monitoring.ts';
import { ReadApi } from './constructs/readApi.ts';
import type { DeploymentContext } from './context.ts';
import { processorConcurrencyCap } from './sizing.ts';
import { stageConfig, type StageConfig } from './stages.ts';

const DAY_SECONDS = 24 * 3600;

const projectRoot = fileURLToPath(new URL('../', import.meta.url));

/**
 * The SQS maximum. It must exceed the source queue's retention: a dead-lettered message keeps its
 * original enqueue time, so a shorter retention would expire it on arrival.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
 */
const DEAD_LETTER_RETENTION = Duration.days(14);

/** Connections each function instance opens: the functions' default, which the stack does not override. */
const POOL_SIZE = DEFAULTS.databasePoolSize;

/** Connections kept free of every function's limit: migrations, the API's bursts, an operator's psql. */
const CONNECTION_HEADROOM = 10;

export interface PipelineStackProps extends StackProps {
  /** What `cdk -c` configured (infra/context.ts). */
  readonly deployment: DeploymentContext;
}

/**
 * The batchflow pipeline: upload bucket → ingest queue → splitter → partition queue → processor →
 * Postgres; analytics jobs on EventBridge Scheduler; the tuner; a read-only API; alarms and a
 * dashboard. Built from lib/topology.ts, as the local runtime is.
 */
export class PipelineStack extends Stack {
  public readonly stage: StageConfig;
  public readonly bucket: Bucket;
  public readonly queues: Readonly<Record<QueueName, Queue>>;
  public readonly database: BatchflowDatabase;
  /** Every batchflow function, by its topology name (`api` only with the HTTP API). */
  public readonly functions: Readonly<Record<Exclude<AnyFunctionName, 'api'>, BatchflowFunction>> & { readonly api?: BatchflowFunction };
  /** The highest maximum concurrency the processor may reach with this database (infra/sizing.ts). */
  public readonly processorConcurrencyCap: number;
  public readonly scheduleGroup: CfnScheduleGroup;
  /** The role EventBridge Scheduler assumes to invoke the analytics function. */
  public readonly schedulerRole: Role;
  public readonly tunerSchedule: CfnSchedule;
  public readonly watchdogSchedule: CfnSchedule;
  public readonly compactorSchedule: CfnSchedule;
  public readonly retentionSchedule: CfnSchedule;
  /** Applies the schema on deploy; the schedule sync runs after it. */
  public readonly migrateTrigger: Trigger;
  public readonly syncSchedulesTrigger: Trigger;
  /** The read-only HTTP API; absent when the context turns it off. */
  public readonly api: ReadApi | undefined;
  public readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { deployment } = props;
    this.stage = stageConfig(deployment.stage);
    this.bucket = this.createBucket();
    this.queues = { ingest: this.createQueue('ingest'), partitions: this.createQueue('partitions') };
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.queues.ingest), {
      prefix: topology.bucket.uploadPrefix,
    });
    this.database = new BatchflowDatabase(this, 'Database', {
      choice: deployment.database,
      stage: this.stage,
      schema: deployment.databaseSchema,
      ssl: deployment.localstack ? 'disable' : 'require',
    });
    this.processorConcurrencyCap = this.sizeProcessors();
    const processorConcurrency = Math.min(topology.functions.processor.maxConcurrency, this.processorConcurrencyCap);
    const splitter = this.createFunction('splitter', {
      source: this.queues.ingest,
      environment: { PARTITION_QUEUE_URL: this.queues.partitions.queueUrl },
    });
    const processor = this.createFunction('processor', {
      source: this.queues.partitions,
      // For ChangeMessageVisibility after transient database errors; the mapping's consume grant
      // already allows it on this queue (and only this one).
      environment: { PARTITION_QUEUE_URL: this.queues.partitions.queueUrl },
      maxConcurrency: processorConcurrency,
      // Lambda throttles a mapping whose maximum concurrency exceeds the reservation, and the
      // reservation is what keeps other functions from starving the processors.
      reservedConcurrency: processorConcurrency,
    });
    const analytics = this.createFunction('analytics');
    const migrate = this.createFunction('migrate', { bundledDirectory: definitionsDirectory(deployment.definitions) });
    this.scheduleGroup = new CfnScheduleGroup(this, 'JobSchedules', { name: `${topology.scheduled.analytics.scheduleGroup}-${this.stage.name}` });
    this.schedulerRole = this.schedulerRoleFor('SchedulerRole', 'EventBridge Scheduler invokes the batchflow analytics function');
    allowInvoke(this.schedulerRole, analytics);
    const api = deployment.api ? this.createApiFunction(analytics, processor, splitter) : undefined;
    const syncSchedules = this.createScheduleSync(analytics);
    const tuner = this.createTuner(processor, splitter);
    // Database access only: it marks what will not finish as failed; it sends and reads nothing else.
    const watchdog = this.createFunction('watchdog');
    // Database access only: it moves partial aggregates into the compacted rollups.
    const compactor = this.createFunction('compactor');
    // Database access only: it deletes history past its retention.
    const retention = this.createFunction('retention');
    this.functions = { splitter, processor, analytics, tuner, watchdog, compactor, retention, migrate, syncSchedules, ...(api ? { api } : {}) };
    this.grantObjectAccess();
    this.migrateTrigger = new Trigger(this, 'MigrateOnDeploy', {
      handler: migrate.function,
      // The database (and its proxy) must accept connections first.
      executeAfter: [this.database],
      executeOnHandlerChange: true,
      timeout: Duration.seconds(topology.deploy.migrate.timeoutSeconds),
    });
    this.syncSchedulesTrigger = new Trigger(this, 'SyncSchedulesOnDeploy', {
      handler: syncSchedules.function,
      executeAfter: [this.migrateTrigger, analytics, this.schedulerRole, this.scheduleGroup],
      executeOnHandlerChange: true,
      timeout: Duration.seconds(topology.deploy.syncSchedules.timeoutSeconds),
    });
    this.tunerSchedule = this.scheduleFunction(tuner, 'Tuner', topology.scheduled.tuner.schedule);
    this.watchdogSchedule = this.scheduleFunction(watchdog, 'Watchdog', topology.scheduled.watchdog.schedule);
    this.compactorSchedule = this.scheduleFunction(compactor, 'Compactor', topology.scheduled.compactor.schedule);
    this.retentionSchedule = this.scheduleFunction(retention, 'Retention', topology.scheduled.retention.schedule);
    this.api = api ? new ReadApi(this, 'ReadApi', { handler: api, logRetention: this.stage.logRetention, removalPolicy: this.stage.removalPolicy }) : undefined;
    this.monitoring = new Monitoring(this, 'Monitoring', {
      dashboardName: `batchflow-${this.stage.name}`,
      queues: this.queues,
      partitionQueue: this.queues.partitions,
      functions: [splitter, processor, analytics, tuner, watchdog, compactor, retention, ...(api ? [api] : [])],
      processor,
      oldestPartitionAgeSeconds: this.stage.alarms.oldestPartitionAgeSeconds,
      ...(deployment.alarmEmail ? { alarmEmail: deployment.alarmEmail } : {}),
    });
    this.addOutputs();
  }

  /**
   * The processor's concurrency cap: what the database's connections leave once every other
   * function runs at its limit. The API is unreserved; its connections come out of the headroom.
   */
  private sizeProcessors(): number {
    const { splitter } = topology.functions;
    const { analytics, tuner, watchdog, compactor, retention } = topology.scheduled;
    return processorConcurrencyCap({
      databaseConnections: this.database.connections,
      poolSize: POOL_SIZE,
      others: [
        { name: 'splitter', concurrency: splitter.maxConcurrency },
        { name: 'analytics', concurrency: analytics.maxConcurrency },
        { name: 'tuner', concurrency: tuner.maxConcurrency },
        { name: 'watchdog', concurrency: watchdog.maxConcurrency },
        { name: 'compactor', concurrency: compactor.maxConcurrency },
        { name: 'retention', concurrency: retention.maxConcurrency },
      ],
      headroom: CONNECTION_HEADROOM,
      lawMaximum: defaultBounds.maxConcurrency,
    });
  }

  private createBucket(): Bucket {
    const { removalPolicy } = this.stage;
    const accessLogs = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(90) }],
    });
    // A staged part is read when its partition message is delivered, so it must outlive the
    // message — in the DLQ too, where a redrive can still send it back (a dead-lettered message keeps
    // its original enqueue time, so the DLQ's retention bounds its age); the extra day covers
    // lifecycle's rounding to midnight UTC and the splitter's run.
    const stagedPartDays = Math.ceil(Math.max(topology.queues.partitions.retentionSeconds / DAY_SECONDS, DEAD_LETTER_RETENTION.toDays())) + 1;
    return new Bucket(this, topology.bucket.id, {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: topology.bucket.versioned,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'uploads-bucket/',
      lifecycleRules: [
        { id: 'ExpireStagedParts', prefix: topology.bucket.stagingPrefix, expiration: Duration.days(stagedPartDays) },
        // An overwritten upload is still read by the job opened for it, for as long as its messages live.
        { id: 'ExpireNoncurrentVersions', noncurrentVersionExpiration: Duration.days(stagedPartDays) },
        // An `aws s3 cp` of a large file that was interrupted leaves parts that are billed but unseen.
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
  }

  private createQueue(name: QueueName): Queue {
    const spec = topology.queues[name];
    const deadLetterQueue = new Queue(this, deadLetterId(spec.id), {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    return new Queue(this, spec.id, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(spec.retentionSeconds),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
    });
  }

  /** A function with the stage's log settings, in the database's network, allowed to connect. */
  private createFunction(name: AnyFunctionName, props: Omit<BatchflowFunctionProps, 'name'> = {}): BatchflowFunction {
    const fn = new BatchflowFunction(this, functionSpec(name).id, {
      ...props,
      name,
      logRetention: this.stage.logRetention,
      removalPolicy: this.stage.removalPolicy,
      ...(this.database.network ? { network: this.database.network } : {}),
      environment: { ...this.database.environment(), ...props.environment },
    });
    this.database.grantConnect(fn.function);
    return fn;
  }

  private schedulerRoleFor(id: string, description: string): Role {
    return new Role(this, id, {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        // Only schedules of this account may assume it (confused-deputy protection).
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description,
    });
  }

  /**
   * The API function: retry and restart re-send partition messages; GET /api/stack names the
   * bucket (so `batchflow upload --target api` needs only the API's URL); POST /api/batch-jobs reads an
   * object's HEAD (s3:GetObject on uploads/*) and sends its notification to the ingest queue; PUT
   * and DELETE /api/analytics/jobs/{name} keep the job's schedule as `batchflow analytics put|delete`
   * does (create, update, delete in the group, and pass the scheduler role). Its object and queue
   * grants are in grantObjectAccess.
   */
  private createApiFunction(analytics: BatchflowFunction, processor: BatchflowFunction, splitter: BatchflowFunction): BatchflowFunction {
    const api = this.createFunction('api', {
      environment: {
        // The tuning routes watch and move what the tuner does, with the tuner's grants.
        ...this.tunerTargets(processor, splitter),
        PARTITION_QUEUE_URL: this.queues.partitions.queueUrl,
        INGEST_QUEUE_URL: this.queues.ingest.queueUrl,
        UPLOAD_BUCKET: this.bucket.bucketName,
        SCHEDULE_GROUP: this.scheduleGroup.ref,
        SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
        ANALYTICS_FUNCTION_ARN: analytics.function.functionArn,
      },
    });
    api.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule'],
        resources: [this.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${this.scheduleGroup.ref}/*` })],
      }),
    );
    this.schedulerRole.grantPassRole(api.function.grantPrincipal);
    this.grantTuning(api, processor);
    return api;
  }

  /**
   * The function that keeps one schedule per job, with exactly the Scheduler rights that needs
   * (the CLI also syncs a job's schedule when it changes).
   */
  private createScheduleSync(analytics: BatchflowFunction): BatchflowFunction {
    const sync = this.createFunction('syncSchedules', {
      environment: {
        SCHEDULE_GROUP: this.scheduleGroup.ref,
        SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
        ANALYTICS_FUNCTION_ARN: analytics.function.functionArn,
      },
    });
    sync.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'],
        resources: [this.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${this.scheduleGroup.ref}/*` })],
      }),
    );
    // ListSchedules has no resource-level permissions.
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html
    sync.function.addToRolePolicy(new PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }));
    this.schedulerRole.grantPassRole(sync.function.grantPrincipal);
    return sync;
  }

  /**
   * The tuner. It may read metrics (GetMetricData has no resource-level permissions), change only
   * the processor's mapping and reserved concurrency, and write the partition size to the
   * database. A later `cdk deploy` sets the mapping back to the topology's values; the tuner then
   * moves it again from there, never past the database's cap.
   */
  private createTuner(processor: BatchflowFunction, splitter: BatchflowFunction): BatchflowFunction {
    const tuner = this.createFunction('tuner', { environment: { ...this.tunerTargets(processor, splitter), TUNER_APPLY: 'true' } });
    this.grantTuning(tuner, processor);
    return tuner;
  }

  /** What the tuner (and the API's tuning routes) watch and move, as environment variables. */
  private tunerTargets(processor: BatchflowFunction, splitter: BatchflowFunction): Record<string, string> {
    return {
      PROCESSOR_FUNCTION_NAME: processor.function.functionName,
      SPLITTER_FUNCTION_NAME: splitter.function.functionName,
      PARTITION_QUEUE_NAME: this.queues.partitions.queueName,
      PARTITION_QUEUE_ARN: this.queues.partitions.queueArn,
      TUNER_MAX_CONCURRENCY: String(this.processorConcurrencyCap),
    };
  }

  /** The tuner's rights: read the metrics, read and move the processor's mapping and reserved concurrency. */
  private grantTuning(fn: BatchflowFunction, processor: BatchflowFunction): void {
    const tuner = fn;
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
    tuner.function.addToRolePolicy(new PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }));
    // ListEventSourceMappings has no resource-level permissions either.
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
    tuner.function.addToRolePolicy(new PolicyStatement({ actions: ['lambda:ListEventSourceMappings'], resources: ['*'] }));
    tuner.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
        resources: [processor.eventSource!.eventSourceMappingArn],
      }),
    );
    tuner.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:GetFunctionConcurrency', 'lambda:PutFunctionConcurrency', 'lambda:DeleteFunctionConcurrency'],
        resources: [processor.function.functionArn],
      }),
    );
  }

  /** A schedule-driven function (the tuner, the watchdog): EventBridge Scheduler with a role that may invoke only it. */
  private scheduleFunction(fn: BatchflowFunction, id: string, expression: string): CfnSchedule {
    const role = this.schedulerRoleFor(`${id}SchedulerRole`, `EventBridge Scheduler invokes the batchflow ${id.toLowerCase()}`);
    allowInvoke(role, fn);
    return new CfnSchedule(this, `${id}Schedule`, {
      scheduleExpression: expression,
      flexibleTimeWindow: { mode: 'OFF' },
      // The next run comes in minutes and reads fresh state: a retry would act on stale data.
      target: { arn: fn.function.functionArn, roleArn: role.roleArn, retryPolicy: { maximumRetryAttempts: 0 } },
    });
  }

  /** Least privilege: each function reaches only the prefixes and queues its step uses. */
  private grantObjectAccess(): void {
    const { splitter, processor } = this.functions;
    const { uploadPrefix, stagingPrefix } = topology.bucket;
    // GetObjectVersion: reads are pinned to the version the job was opened for.
    this.allowObjects(splitter, ['s3:GetObject', 's3:GetObjectVersion'], uploadPrefix);
    this.allowObjects(splitter, ['s3:GetObject', 's3:PutObject'], stagingPrefix);
    this.queues.partitions.grantSendMessages(splitter.function);
    if (this.functions.api) {
      this.queues.partitions.grantSendMessages(this.functions.api.function);
      this.queues.ingest.grantSendMessages(this.functions.api.function);
      // HEAD of an object needs s3:GetObject.
      this.allowObjects(this.functions.api, ['s3:GetObject'], uploadPrefix);
    }
    this.allowObjects(processor, ['s3:GetObject', 's3:GetObjectVersion'], uploadPrefix);
    this.allowObjects(processor, ['s3:GetObject'], stagingPrefix);
  }

  private allowObjects(fn: BatchflowFunction, actions: string[], prefix: string): void {
    fn.function.addToRolePolicy(new PolicyStatement({ actions, resources: [this.bucket.arnForObjects(`${prefix}*`)] }));
  }

  private addOutputs(): void {
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'upload files to s3://<this>/uploads/<dataset>/' });
    for (const name of Object.keys(this.queues) as QueueName[]) {
      new CfnOutput(this, `${topology.queues[name].id}Url`, { value: this.queues[name].queueUrl });
    }
    if (this.api) {
      new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'the batchflow HTTP API (IAM/SigV4): export it as BATCHFLOW_API_URL for the CLI' });
    }
    new CfnOutput(this, 'DashboardUrl', { value: this.monitoring.dashboardUrl() });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    // What `batchflow jobs put` needs to create a job's schedule on AWS.
    new CfnOutput(this, 'AnalyticsFunctionArn', { value: this.functions.analytics.function.functionArn });
    new CfnOutput(this, 'ScheduleGroupName', { value: this.scheduleGroup.ref });
    new CfnOutput(this, 'SchedulerRoleArn', { value: this.schedulerRole.roleArn });
    new CfnOutput(this, 'DatabaseSecretArn', { value: this.database.secret.secretArn, description: 'the RDS-format secret the functions read' });
    if (this.database.proxy) new CfnOutput(this, 'DatabaseProxyEndpoint', { value: this.database.proxy.endpoint });
  }
}

/**
 * The definitions the migrate function applies on deploy, checked now: a missing directory is a
 * mistake in `-c definitions=...`, better reported by synth than by a deploy that applies nothing.
 */
function definitionsDirectory(relative: string): { from: string; name: string; env: string } {
  const from = resolve(projectRoot, relative);
  if (!existsSync(from)) throw new Error(`definitions: ${from} does not exist (it holds datasets/*.json and jobs/*.json)`);
  return { from, name: 'definitions', env: 'DEFINITIONS_DIR' };
}

/**
 * Lets a role invoke exactly the function's unqualified ARN; `grantInvoke` would add `<arn>:*`
 * (every version and alias), which a schedule never targets.
 */
function allowInvoke(role: Role, fn: BatchflowFunction): void {
  role.addToPolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.function.functionArn] }));
}
