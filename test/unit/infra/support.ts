import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnResource } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { addPipeline } from '../../../infra/batchflowApp.ts';
import type { PipelineStack } from '../../../infra/pipelineStack.ts';
import { topology } from '../../../lib/topology.ts';

// The feature flags `cdk synth` runs with, so the tests assert the template that gets deployed.
const cdkJson = JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

/** Every batchflow function: queue-, schedule-, HTTP- and deploy-driven. */
export const allFunctionNames = [
  ...Object.keys(topology.functions),
  ...Object.keys(topology.scheduled),
  ...Object.keys(topology.http),
  ...Object.keys(topology.deploy),
] as (keyof PipelineStack['functions'])[];

export const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:batchflow/database-AbC123';

/** A brought database reachable from a VPC, as `-c` would give it. */
export const externalNetwork = {
  databaseSecretArn: secretArn,
  databaseVpcId: 'vpc-0123abcd',
  databaseSubnetIds: 'subnet-0123abcd,subnet-0456abcd',
  databaseSecurityGroupId: 'sg-0123abcd',
};

/**
 * A fresh app with cdk.json's flags plus `context`, holding the pipeline exactly as `cdk synth`
 * builds it (cdk-nag included: an unacknowledged finding fails the synth). Asset bundling is
 * skipped (`aws:cdk:bundling-stacks: []`): it changes only the code asset, and the synth test in
 * test/integration/infra bundles for real.
 */
export function synthesize(context: Record<string, unknown> = {}): { app: App; stack: PipelineStack; template: Template } {
  const app = new App({
    outdir: mkdtempSync(join(tmpdir(), 'batchflow-cdk-')),
    context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stack = addPipeline(app);
  return { app, stack, template: Template.fromStack(stack) };
}

/** The logical id of a construct's CloudFormation resource (or of the construct itself). */
export function logicalId(stack: PipelineStack, construct: IConstruct): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as CfnResource);
}

/** `arn:...:bucket/<prefix>*` as CloudFormation renders it. */
export function objectsArn(bucketId: string, prefix: string): unknown {
  return { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] };
}

/** Every `action resource` pair a role's inline policies allow, however CDK merged the statements. */
export function allowed(template: Template, roleId: string): Set<string> {
  const pairs = new Set<string>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const roles: unknown[] = policy.Properties.Roles;
    if (!roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of [statement.Action].flat()) {
        for (const resource of [statement.Resource].flat()) pairs.add(`${action} ${JSON.stringify(resource)}`);
      }
    }
  }
  return pairs;
}

export function pair(action: string, resource: unknown): string {
  return `${action} ${JSON.stringify(resource)}`;
}
