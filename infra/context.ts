import type { Construct } from 'constructs';
import { z } from 'zod';
import { DEFAULTS } from '../lib/config.ts';
import { stageNames, type StageName } from './stages.ts';

/** Where the pipeline's Postgres comes from. */
export type DatabaseChoice =
  /** The stack creates Aurora PostgreSQL Serverless v2 behind RDS Proxy, in its own VPC. */
  | { readonly kind: 'aurora' }
  /** A database the user runs: its secret, and the network to reach it from (none: a public endpoint). */
  | {
      readonly kind: 'external';
      readonly secretArn: string;
      readonly network: ExternalNetwork | undefined;
      /** Connections batchflow may open there (sizes the processor's concurrency cap). */
      readonly maxConnections: number;
    };

/** The VPC, subnets and security group a brought database is reachable from. */
export interface ExternalNetwork {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupId: string;
}

/** Everything `cdk -c key=value` (or cdk.json's context) configures, checked. */
export interface DeploymentContext {
  readonly stage: StageName;
  readonly database: DatabaseChoice;
  /** Postgres schema holding batchflow's tables. */
  readonly databaseSchema: string;
  /** Deploying to LocalStack with cdklocal (localstack/compose/deploy.ts): no TLS to its Postgres. */
  readonly localstack: boolean;
  /** Where alarm notifications are e-mailed (they always go to the stack's SNS topic). */
  readonly alarmEmail: string | undefined;
  /** The directory of dataset and job definitions applied on deploy, relative to the project root. */
  readonly definitions: string;
  /** Whether the read-only HTTP API is deployed (LocalStack's free image has no API Gateway v2). */
  readonly api: boolean;
}

const boolFromContext = z
  .union([z.boolean(), z.enum(['true', 'false'])])
  .transform((v) => v === true || v === 'true');

const listFromContext = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean));

const contextSchema = z
  .object({
    stage: z.enum(stageNames, { message: `stage must be one of ${stageNames.join(', ')}` }).default('dev'),
    databaseSecretArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/,
        'databaseSecretArn must be a complete Secrets Manager secret ARN (ending in -XXXXXX)',
      )
      .optional(),
    databaseVpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'databaseVpcId must look like vpc-0123abcd').optional(),
    databaseSubnetIds: listFromContext
      .pipe(z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'each of databaseSubnetIds must look like subnet-0123abcd')).min(1))
      .optional(),
    databaseSecurityGroupId: z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'databaseSecurityGroupId must look like sg-0123abcd').optional(),
    databaseMaxConnections: z.coerce.number().int().min(1).default(100),
    databaseSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'databaseSchema must be a lower-case SQL identifier')
      .default(DEFAULTS.databaseSchema),
    localstack: boolFromContext.default(false),
    alarmEmail: z.email('alarmEmail must be an e-mail address').optional(),
    api: boolFromContext.default(true),
    definitions: z.string().min(1).default('definitions'),
  })
  .superRefine((c, ctx) => {
    const network = [c.databaseVpcId, c.databaseSubnetIds, c.databaseSecurityGroupId];
    const given = network.filter((v) => v !== undefined).length;
    if (given > 0 && given < network.length) {
      ctx.addIssue({ code: 'custom', path: ['databaseVpcId'], message: 'give databaseVpcId, databaseSubnetIds and databaseSecurityGroupId together' });
    }
    if (given > 0 && !c.databaseSecretArn) {
      ctx.addIssue({ code: 'custom', path: ['databaseSecretArn'], message: 'a database network needs databaseSecretArn (the database it reaches)' });
    }
    if (c.localstack && !c.databaseSecretArn) {
      ctx.addIssue({ code: 'custom', path: ['databaseSecretArn'], message: 'localstack needs databaseSecretArn (localstack/compose/deploy.ts creates one for the compose Postgres)' });
    }
    if (c.localstack && given > 0) {
      ctx.addIssue({ code: 'custom', path: ['localstack'], message: 'localstack runs the functions next to its Postgres: give no database network' });
    }
  });

/** The context keys the stack reads. */
export const contextKeys = Object.keys(contextSchema.shape) as readonly string[];

/** Reads and checks the deployment's context (`stage` defaults to `dev`), failing with every problem named. */
export function readDeploymentContext(scope: Construct): DeploymentContext {
  const raw = Object.fromEntries(contextKeys.map((key) => [key, scope.node.tryGetContext(key)]));
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid cdk context: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  const database: DatabaseChoice = c.databaseSecretArn
    ? {
        kind: 'external',
        secretArn: c.databaseSecretArn,
        network:
          c.databaseVpcId && c.databaseSubnetIds && c.databaseSecurityGroupId
            ? { vpcId: c.databaseVpcId, subnetIds: c.databaseSubnetIds, securityGroupId: c.databaseSecurityGroupId }
            : undefined,
        maxConnections: c.databaseMaxConnections,
      }
    : { kind: 'aurora' };
  return { stage: c.stage, database, databaseSchema: c.databaseSchema, localstack: c.localstack, alarmEmail: c.alarmEmail, api: c.api, definitions: c.definitions };
}

/** The CloudFormation stack name of a stage: `Batchflow-<stage>`. */
export function pipelineStackName(stage: StageName): string {
  return `Batchflow-${stage}`;
}
