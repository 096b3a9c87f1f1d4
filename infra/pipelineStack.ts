import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnSchedule, CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { Trigger } from 'aws-cdk-lib/triggers';
import { BlockPublicAccess, Bucket, BucketEncryption, EventType } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { deadLetterId, topology, type FunctionName, type QueueName } from '../lib/topology.ts';
import { BatchflowFunction } from './constructs/batchflowFunction.ts';

const DAY_SECONDS = 24 * 3600;

/**
 * The SQS maximum. It must exceed the source queue's retention: a dead-lettered message keeps its
 * original enqueue time, so a shorter retention would expire it on arrival.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
 */
const DEAD_LETTER_RETENTION = Duration.days(14);

/** Stages whose stacks are disposable: their bucket and log groups go with the stack. */
const DISPOSABLE_STAGES: readonly string[] = ['dev'];

export interface PipelineStackProps extends StackProps {
  /** The deployment stage (`dev`, `prod`, ...); `dev` stacks delete their data with them. */
  readonly stage: string;
  /**
   * Complete ARN of the Secrets Manager secret holding the Postgres connection. The functions read
   * it at cold start, so no credential appears in the template.
   * @default - the functions get no database settings
   */
  readonly databaseSecretArn?: string;
  /**
   * Postgres schema holding batchflow's tables (`DATABASE_SCHEMA`).
   * @default 'batchflow'
   */
  readonly databaseSchema?: string;
}

/**
 * The batchflow pipeline: upload bucket → ingest queue → splitter → partition queue → processor,
 * and the analytics function that job schedules invoke.
 */
export class PipelineStack extends Stack {
  public readonly bucket: Bucket;
  public readonly queues: Readonly<Record<QueueName, Queue>>;
  public readonly functions: Readonly<Record<FunctionName, BatchflowFunction>>;
  public readonly databaseSecret: ISecret | undefined;
  /** Runs analytics jobs; each enabled job's schedule (in `scheduleGroup`) invokes it. */
  public readonly analytics: BatchflowFunction;
  public readonly scheduleGroup: CfnScheduleGroup;
  /** The role EventBridge Scheduler assumes to invoke the analytics function. */
  public readonly schedulerRole: Role;
  /** Makes the job schedules match the jobs table; run on deploy when a database is configured. */
  public readonly syncSchedules: BatchflowFunction;
  /** Reads the metrics every few minutes and moves the processor's levers. */
  public readonly tuner: BatchflowFunction;
  /** The schedule that runs the tuner. */
  public readonly tunerSchedule: CfnSchedule;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const removalPolicy = DISPOSABLE_STAGES.includes(props.stage) ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    this.bucket = this.createBucket(removalPolicy);
    this.queues = { ingest: this.createQueue('ingest'), partitions: this.createQueue('partitions') };
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.queues.ingest), {
      prefix: topology.bucket.uploadPrefix,
    });
    this.databaseSecret = props.databaseSecretArn
      ? Secret.fromSecretCompleteArn(this, 'DatabaseSecret', props.databaseSecretArn)
      : undefined;
    const database = this.databaseEnvironment(props.databaseSchema);
    this.functions = {
      splitter: this.createFunction('splitter', removalPolicy, {
        PARTITION_QUEUE_URL: this.queues.partitions.queueUrl,
        ...database,
      }),
      processor: this.createFunction('processor', removalPolicy, database),
    };
    this.analytics = new BatchflowFunction(this, topology.scheduled.analytics.id, {
      name: 'analytics',
      environment: database,
      removalPolicy,
    });
    this.scheduleGroup = new CfnScheduleGroup(this, 'JobSchedules', { name: `${topology.scheduled.analytics.scheduleGroup}-${props.stage}` });
    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        // Only schedules of this account may assume it (confused-deputy protection).
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'EventBridge Scheduler invokes the batchflow analytics function',
    });
    this.analytics.function.grantInvoke(this.schedulerRole);
    this.syncSchedules = this.createScheduleSync(removalPolicy, database);
    ({ tuner: this.tuner, schedule: this.tunerSchedule } = this.createTuner(removalPolicy, database));
    this.grantAccess();
    this.addOutputs();
  }

  private createBucket(removalPolicy: RemovalPolicy): Bucket {
    // A staged part is read when its partition message is delivered, so it must outlive the
    // message; the extra day covers lifecycle's rounding to midnight UTC and the splitter's run.
    const stagedPartDays = Math.ceil(topology.queues.partitions.retentionSeconds / DAY_SECONDS) + 1;
    return new Bucket(this, topology.bucket.id, {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [
        {
          id: 'ExpireStagedParts',
          prefix: topology.bucket.stagingPrefix,
          expiration: Duration.days(stagedPartDays),
        },
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

  private createFunction(
    name: FunctionName,
    removalPolicy: RemovalPolicy,
    environment: Record<string, string>,
  ): BatchflowFunction {
    const spec = topology.functions[name];
    return new BatchflowFunction(this, spec.id, {
      name,
      source: this.queues[spec.source],
      environment,
      removalPolicy,
    });
  }

  /**
   * The function that keeps one schedule per job, with exactly the Scheduler rights that needs, run
   * by a trigger after each deploy that changes it (the CLI syncs a job's schedule when it changes).
   */
  private createScheduleSync(removalPolicy: RemovalPolicy, database: Record<string, string>): BatchflowFunction {
    const sync = new BatchflowFunction(this, topology.deploy.syncSchedules.id, {
      name: 'syncSchedules',
      removalPolicy,
      environment: {
        ...database,
        SCHEDULE_GROUP: this.scheduleGroup.ref,
        SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
        ANALYTICS_FUNCTION_ARN: this.analytics.function.functionArn,
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
    if (this.databaseSecret) {
      this.databaseSecret.grantRead(sync.function);
      new Trigger(this, 'SyncSchedulesOnDeploy', {
        handler: sync.function,
        executeAfter: [this.analytics, this.schedulerRole, this.scheduleGroup],
        executeOnHandlerChange: true,
      });
    }
    return sync;
  }

  /**
   * The tuner and its schedule. It may read metrics (GetMetricData has no resource-level
   * permissions), change only the processor's mapping and reserved concurrency, and write the
   * partition size to the database. A later `cdk deploy` sets the mapping back to the topology's
   * values; the tuner then moves it again from there.
   */
  private createTuner(removalPolicy: RemovalPolicy, database: Record<string, string>): { tuner: BatchflowFunction; schedule: CfnSchedule } {
    const { processor, splitter } = this.functions;
    const spec = topology.scheduled.tuner;
    const tuner = new BatchflowFunction(this, spec.id, {
      name: 'tuner',
      removalPolicy,
      environment: {
        ...database,
        PROCESSOR_FUNCTION_NAME: processor.function.functionName,
        SPLITTER_FUNCTION_NAME: splitter.function.functionName,
        PARTITION_QUEUE_NAME: this.queues.partitions.queueName,
        PARTITION_QUEUE_ARN: this.queues.partitions.queueArn,
        TUNER_APPLY: 'true',
      },
    });
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
    this.databaseSecret?.grantRead(tuner.function);
    const role = new Role(this, 'TunerSchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'EventBridge Scheduler invokes the batchflow tuner',
    });
    tuner.function.grantInvoke(role);
    const schedule = new CfnSchedule(this, 'TunerSchedule', {
      scheduleExpression: spec.schedule,
      flexibleTimeWindow: { mode: 'OFF' },
      target: { arn: tuner.function.functionArn, roleArn: role.roleArn, retryPolicy: { maximumRetryAttempts: 0 } },
    });
    return { tuner, schedule };
  }

  /** Where the functions find the database: the secret's ARN, never its value. */
  private databaseEnvironment(schema = 'batchflow'): Record<string, string> {
    if (!this.databaseSecret) {
      // lib/config.ts needs DATABASE_URL or DATABASE_SECRET_ARN: without either, cold starts fail.
      Annotations.of(this).addWarningV2(
        'batchflow:noDatabaseSecret',
        'no databaseSecretArn in context: the functions will fail at cold start until one is given',
      );
      return {};
    }
    return { DATABASE_SECRET_ARN: this.databaseSecret.secretArn, DATABASE_SCHEMA: schema };
  }

  /** Least privilege: each function reaches only the prefixes and queues its step uses. */
  private grantAccess(): void {
    const { splitter, processor } = this.functions;
    const { uploadPrefix, stagingPrefix } = topology.bucket;
    this.allowObjects(splitter, ['s3:GetObject'], uploadPrefix);
    this.allowObjects(splitter, ['s3:GetObject', 's3:PutObject'], stagingPrefix);
    this.queues.partitions.grantSendMessages(splitter.function);
    this.allowObjects(processor, ['s3:GetObject'], uploadPrefix);
    this.allowObjects(processor, ['s3:GetObject'], stagingPrefix);
    this.databaseSecret?.grantRead(splitter.function);
    this.databaseSecret?.grantRead(processor.function);
    this.databaseSecret?.grantRead(this.analytics.function);
  }

  private allowObjects(fn: BatchflowFunction, actions: string[], prefix: string): void {
    fn.function.addToRolePolicy(
      new PolicyStatement({ actions, resources: [this.bucket.arnForObjects(`${prefix}*`)] }),
    );
  }

  private addOutputs(): void {
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    for (const name of Object.keys(this.queues) as QueueName[]) {
      new CfnOutput(this, `${topology.queues[name].id}Url`, { value: this.queues[name].queueUrl });
    }
    // What `batchflow jobs put` needs to create a job's schedule on AWS.
    new CfnOutput(this, 'AnalyticsFunctionArn', { value: this.analytics.function.functionArn });
    new CfnOutput(this, 'ScheduleGroupName', { value: this.scheduleGroup.ref });
    new CfnOutput(this, 'SchedulerRoleArn', { value: this.schedulerRole.roleArn });
  }
}

const contextSchema = z.object({
  stage: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'stage must be lower-case letters, digits and dashes, starting with a letter')
    .default('dev'),
  databaseSecretArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/,
      'databaseSecretArn must be a complete Secrets Manager secret ARN (ending in -XXXXXX)',
    )
    .optional(),
  databaseSchema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'databaseSchema must be a lower-case SQL identifier')
    .optional(),
});

/** What `cdk` context configures: `-c stage=prod -c databaseSecretArn=arn:...`. */
export type PipelineContext = z.infer<typeof contextSchema>;

/** Reads and checks the pipeline's context (`stage` defaults to `dev`), failing with every problem named. */
export function readPipelineContext(scope: Construct): PipelineContext {
  const raw = Object.fromEntries(
    Object.keys(contextSchema.shape).map((key) => [key, scope.node.tryGetContext(key)]),
  );
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid cdk context: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The CloudFormation stack name of a stage: `Batchflow-<stage>`. */
export function pipelineStackName(stage: string): string {
  return `Batchflow-${stage}`;
}
