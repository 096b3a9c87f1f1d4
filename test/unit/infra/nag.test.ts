import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { pipelineStackName, readDeploymentContext } from '../../../infra/context.ts';
import { acceptedFindings, disposableStageFindings } from '../../../infra/nagSuppressions.ts';
import { PipelineStack } from '../../../infra/pipelineStack.ts';
import { externalNetwork, secretArn, synthesize } from './support.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };

/** Every deployment shape the stack supports. */
const variants: Record<string, Record<string, unknown>> = {
  dev: { stage: 'dev' },
  prod: { stage: 'prod' },
  'brought database, public endpoint': { databaseSecretArn: secretArn },
  'brought database in a VPC': { stage: 'prod', ...externalNetwork },
  'localstack, free image (no HTTP API)': { localstack: 'true', databaseSecretArn: secretArn, api: 'false' },
  'localstack with an account (HTTP API)': { localstack: 'true', databaseSecretArn: secretArn },
};

/** What cdk-nag reports for the stack without any acknowledgement: `rule path` pairs. */
function unacknowledgedFindings(context: Record<string, unknown>): { stackPath: string; findings: string[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'batchflow-nag-'));
  const app = new App({ outdir, context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context } });
  const deployment = readDeploymentContext(app);
  const stack = new PipelineStack(app, pipelineStackName(deployment.stage), { deployment });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  expect(() => app.synth()).toThrow(/AwsSolutions/);
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
  };
  const findings = report.pluginReports.flatMap((r) =>
    r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath.slice(stack.node.path.length + 1)}`)),
  );
  return { stackPath: stack.node.path, findings };
}

/** A construct path and the paths of the constructs that enclose it. */
function enclosing(path: string): string[] {
  const parts = path.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

describe('cdk-nag AwsSolutions', () => {
  for (const [name, context] of Object.entries(variants)) {
    it(`synthesizes with no unacknowledged finding: ${name}`, () => {
      // Prepare
      const { app } = synthesize(context);

      // Act
      const assembly = () => app.synth();

      // Assess
      expect(assembly).not.toThrow();
    });
  }

  it('acknowledges exactly the findings the stack has: none is left unexplained, none is stale', () => {
    // Prepare
    const dev = unacknowledgedFindings(variants.dev!);
    const prod = unacknowledgedFindings(variants.prod!);

    // Act
    // An acknowledgement on a construct covers the resources below it, as cdk-nag applies it.
    const covered = (accepted: typeof acceptedFindings, finding: string) =>
      accepted.some((a) => finding.startsWith(`${a.rule} `) && enclosing(finding.slice(a.rule.length + 1)).some((path) => a.at.test(path)));
    const devAccepted = [...acceptedFindings, ...disposableStageFindings];

    // Assess
    expect(dev.findings.filter((f) => !covered(devAccepted, f))).toEqual([]);
    expect(prod.findings.filter((f) => !covered(acceptedFindings, f))).toEqual([]);
    for (const accepted of devAccepted) {
      expect(dev.findings.some((f) => covered([accepted], f)), `${accepted.rule} at ${accepted.at} matches no finding`).toBe(true);
    }
    // Deletion protection is accepted in dev only: prod must not need it.
    expect(prod.findings.some((f) => f.startsWith('AwsSolutions-RDS10 '))).toBe(false);
  });

  it('gives every acknowledgement a reason a reviewer can act on', () => {
    // Prepare
    const all = [...acceptedFindings, ...disposableStageFindings];

    // Act
    const reasons = all.map((a) => a.reason);

    // Assess
    for (const reason of reasons) expect(reason.length).toBeGreaterThan(60);
    expect(new Set(all.map((a) => `${a.rule} ${a.at}`)).size).toBe(all.length);
  });
});
