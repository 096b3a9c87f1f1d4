import { Validations, type Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * A cdk-nag AwsSolutions finding the stack accepts, on the constructs whose path (relative to the
 * stack) matches `at`, with the reason a reviewer needs. Kept in one table so the whole list can
 * be read, reviewed and reported in one place.
 */
export interface AcceptedFinding {
  readonly rule: string;
  readonly at: RegExp;
  readonly reason: string;
}

/** Functions whose roles carry the wildcards explained below. */
const objectReaders = /^(Splitter|Processor)\/ServiceRole$/;

export const acceptedFindings: readonly AcceptedFinding[] = [
  {
    rule: 'AwsSolutions-L1',
    at: /^(Splitter|Processor|Analytics|Tuner|Watchdog|Compactor|Retention|Api|Migrate|SyncSchedules)\/Function$/,
    reason:
      'batchflow targets nodejs22.x on purpose: it is the runtime the code is tested on (Node 20 and 22), and a newer one is adopted by changing BatchflowFunction in one place after testing.',
  },
  {
    rule: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    at: /^(Splitter|Processor|Analytics|Tuner|Watchdog|Compactor|Retention|Api|Migrate|SyncSchedules)\/ServiceRole$/,
    reason:
      "AWS's policy for a VPC function's network interfaces: Lambda creates and deletes them as it scales, and the ec2 Describe/Create/Delete actions it needs cannot be scoped to resources known at deploy time. Logs are granted separately, to the function's own log group only.",
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::<Uploads4F6EB0FD.Arn>/uploads/*]',
    at: objectReaders,
    reason: 'Objects are read by key under the uploads/ prefix; keys are chosen by uploaders, so the grant is the prefix, not single objects.',
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::<Uploads4F6EB0FD.Arn>/uploads/*]',
    at: /^Api\/ServiceRole$/,
    reason: 'POST /api/batch-jobs reads the HEAD of an object a caller names under uploads/ (s3:GetObject only, never the object list); keys are chosen by uploaders, so the grant is the prefix.',
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::<Uploads4F6EB0FD.Arn>/staging/*]',
    at: objectReaders,
    reason: 'The splitter writes and the processor reads decompressed parts under staging/; their keys are derived from each upload, so the grant is the prefix.',
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::*]',
    // The API's tuning routes (/api/tuning/..., /api/performance-metrics/bottlenecks) hold the tuner's grants.
    at: /^(Tuner|Api)\/ServiceRole$/,
    reason:
      'cloudwatch:GetMetricData and lambda:ListEventSourceMappings have no resource-level permissions (Service Authorization Reference). Every write the tuner (or the API\'s POST /api/tuning/apply) makes is scoped to the processor function and its mapping.',
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::*]',
    at: /^SyncSchedules\/ServiceRole$/,
    reason: 'scheduler:ListSchedules has no resource-level permissions; create, update, get and delete are scoped to the stack\'s schedule group.',
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/<JobSchedules>/*]',
    at: /^(SyncSchedules|Api)\/ServiceRole$/,
    reason: 'One schedule per analytics job, named after the job: the grant is every schedule in the stack\'s own schedule group and nothing outside it.',
  },
  {
    rule: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    at: /^(BucketNotificationsHandler[0-9a-f]+|LogRetention[0-9a-f]+)$/,
    reason:
      "CDK-provided singleton functions (the S3 notification configurator, the RDS log-retention setter) whose roles CDK defines with AWS's basic execution policy for their logs; they run only during deployments and hold no data.",
  },
  {
    rule: 'AwsSolutions-IAM5[Resource::*]',
    at: /^LogRetention[0-9a-f]+$/,
    reason: "CDK's log-retention function sets the retention of the Aurora log group, whose name RDS chooses when the cluster is created, so CDK grants logs:PutRetentionPolicy on all log groups.",
  },
  {
    rule: 'AwsSolutions-RDS6',
    at: /^Database\/Cluster$/,
    reason:
      'Functions authenticate to RDS Proxy with the Secrets Manager credentials the proxy also uses (rotated every 30 days); the cluster itself accepts connections only from the proxy and the rotation function security groups.',
  },
];

/** Findings accepted only in a stage that is meant to be destroyed. */
export const disposableStageFindings: readonly AcceptedFinding[] = [
  {
    rule: 'AwsSolutions-RDS10',
    at: /^Database\/Cluster$/,
    reason: 'dev stacks are disposable and must destroy cleanly; prod sets deletion protection on the cluster.',
  },
];

/** Acknowledges each accepted finding on the constructs it names. */
export function suppressAcceptedFindings(stack: Stack, options: { disposable: boolean }): void {
  const findings = options.disposable ? [...acceptedFindings, ...disposableStageFindings] : acceptedFindings;
  const prefix = `${stack.node.path}/`;
  const constructs: IConstruct[] = stack.node.findAll();
  for (const finding of findings) {
    for (const construct of constructs) {
      if (finding.at.test(construct.node.path.slice(prefix.length))) {
        Validations.of(construct).acknowledge({ id: finding.rule, reason: finding.reason });
      }
    }
  }
}
