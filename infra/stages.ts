import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** The deployment stages: `-c stage=dev|prod`. */
export const stageNames = ['dev', 'prod'] as const;
export type StageName = (typeof stageNames)[number];

/** What differs between stages. Everything else is the same stack. */
export interface StageConfig {
  readonly name: StageName;
  /**
   * What happens to data (bucket, database, log groups) when it leaves the stack: a dev stack
   * deletes cleanly, a prod stack keeps its data after `cdk destroy`.
   */
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: RetentionDays;
  /** The Aurora Serverless v2 cluster the stack creates when no database is brought. */
  readonly database: {
    /** ACUs (1 ACU ≈ 2 GiB). 0.5 is the floor with RDS Proxy, which cannot use auto-pause (0 ACU). */
    readonly minCapacityAcu: number;
    /** Also fixes max_connections (infra/sizing.ts), hence the processor's concurrency cap. */
    readonly maxCapacityAcu: number;
    /** Serverless v2 readers in another AZ: the writer fails over to one instead of being recreated. */
    readonly readers: number;
    readonly backupRetentionDays: number;
    readonly deletionProtection: boolean;
  };
  /**
   * How many AZs the interface endpoints span. Each endpoint costs per AZ-hour; dev accepts that a
   * zone outage cuts its functions off AWS APIs, prod does not.
   */
  readonly endpointAzs: number;
  readonly alarms: {
    /** Age of the oldest partition message that means the processors are falling behind. */
    readonly oldestPartitionAgeSeconds: number;
  };
}

const stages: Readonly<Record<StageName, StageConfig>> = {
  dev: {
    name: 'dev',
    removalPolicy: RemovalPolicy.DESTROY,
    logRetention: RetentionDays.ONE_WEEK,
    database: { minCapacityAcu: 0.5, maxCapacityAcu: 2, readers: 0, backupRetentionDays: 1, deletionProtection: false },
    endpointAzs: 1,
    alarms: { oldestPartitionAgeSeconds: 3600 },
  },
  prod: {
    name: 'prod',
    removalPolicy: RemovalPolicy.RETAIN,
    logRetention: RetentionDays.THREE_MONTHS,
    database: { minCapacityAcu: 0.5, maxCapacityAcu: 8, readers: 1, backupRetentionDays: 14, deletionProtection: true },
    endpointAzs: 2,
    alarms: { oldestPartitionAgeSeconds: 900 },
  },
};

/** The configuration of a stage. */
export function stageConfig(name: StageName): StageConfig {
  return stages[name];
}
