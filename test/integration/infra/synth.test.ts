import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { addPipeline } from '../../../infra/batchflowApp.ts';
import { ensurePythonTool, pythonTools } from '../../../localstack/services/moto.ts';
import { topology } from '../../../lib/topology.ts';

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));
const cdkJson = JSON.parse(readFileSync(join(projectRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:batchflow/database-AbC123';

/** Every batchflow function, whatever drives it: each is one bundled asset. */
const functionCount = [topology.functions, topology.scheduled, topology.http, topology.deploy].reduce((n, group) => n + Object.keys(group).length, 0);

/**
 * An environment with nothing that reaches AWS: no credentials, no profile, no region, a HOME
 * without ~/.aws, and no Docker on PATH's behalf (esbuild bundles locally).
 */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'batchflow-home-')), CDK_DISABLE_VERSION_CHECK: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('AWS_')) delete env[key];
  return env;
}

/** Synthesizes a deployment shape in-process (bundling skipped) and returns its template file. */
function templateOf(name: string, context: Record<string, unknown>): string {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'batchflow-cfn-')), context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = addPipeline(app);
  const assembly = app.synth();
  const file = join(tmpdir(), `batchflow-${name}-${process.pid}.template.json`);
  writeFileSync(file, readFileSync(join(assembly.directory, stack.templateFile)));
  return file;
}

interface LintMatch {
  Level: 'Error' | 'Warning' | 'Informational';
  Rule: { Id: string };
  Message: string;
  Filename: string;
}

describe('cdk synth on a fresh clone', () => {
  it('synthesizes the dev stack with no AWS credentials and no Docker, bundling every function with esbuild', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'batchflow-synth-'));

    // Act
    const run = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '-o', outdir], { cwd: projectRoot, env: offlineEnv(), encoding: 'utf8', timeout: 240_000 });

    // Assess
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const template = JSON.parse(readFileSync(join(outdir, 'Batchflow-dev.template.json'), 'utf8'));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    const bundles = readdirSync(outdir).filter((d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'index.mjs')));
    expect(bundles).toHaveLength(functionCount);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/docker/i);
  });
});

describe('cfn-lint', () => {
  let cfnLint: string;
  beforeAll(async () => {
    // In the venv moto lives in (installed there on first use, as moto is).
    cfnLint = await ensurePythonTool(pythonTools.cfnLint);
  });

  it('finds no error in the template of any deployment shape', () => {
    // Prepare
    const templates = [
      templateOf('dev', { stage: 'dev' }),
      templateOf('prod', { stage: 'prod', alarmEmail: 'ops@example.com' }),
      templateOf('brought', { stage: 'prod', databaseSecretArn: secretArn, databaseVpcId: 'vpc-0123abcd', databaseSubnetIds: 'subnet-0123abcd,subnet-0456abcd', databaseSecurityGroupId: 'sg-0123abcd' }),
      templateOf('localstack-free', { localstack: 'true', databaseSecretArn: secretArn, api: 'false' }),
      templateOf('localstack', { localstack: 'true', databaseSecretArn: secretArn }),
    ];

    // Act
    const run = spawnSync(cfnLint, ['--format', 'json', ...templates], { encoding: 'utf8', timeout: 240_000 });
    const matches = JSON.parse(run.stdout || '[]') as LintMatch[];

    // Assess
    expect(run.error).toBeUndefined();
    // cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 means it failed to run.
    expect([0, 4], run.stderr).toContain(run.status);
    expect(matches.filter((m) => m.Level === 'Error').map((m) => `${m.Filename} ${m.Rule.Id} ${m.Message}`)).toEqual([]);
    // The only warning: CDK writes an explicit DependsOn next to a Ref or GetAtt that implies it.
    expect([...new Set(matches.map((m) => m.Rule.Id))].filter((id) => id !== 'W3005')).toEqual([]);
  });
});
