/**
 * `npm run localstack:deploy`: deploys the real CDK stack (infra/) with cdklocal to the LocalStack
 * of localstack/compose/docker-compose.yml, its database being that file's Postgres. See
 * localstack/compose/README.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { join, relative } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pipelineStackName } from '../../infra/context.ts';
import { stageNames, type StageName } from '../../infra/stages.ts';
import { topology } from '../../lib/topology.ts';
import { DeployError, putDatabaseSecret, SECRET_NAME, waitForLocalStack } from './localstackDeploy.ts';
import { localDir, projectRoot } from '../paths.ts';

// Node 20 is supported locally; the SDK's notice about 2027 releases needing Node 22 is in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The database as the functions see it: Postgres by its compose service name, on the compose network. */
const DATABASE = { host: 'postgres', port: 5432, username: 'batchflow', password: 'batchflow', dbname: 'batchflow' };
/** The same database from this machine (docker-compose.yml publishes it on 127.0.0.1:5433). */
const HOST_DATABASE = { host: '127.0.0.1', port: 5433, url: 'postgres://batchflow:batchflow@127.0.0.1:5433/batchflow' };
const OUTPUTS_FILE = join(localDir, 'localstack-outputs.json');
const COMPOSE_UP = 'docker compose -f localstack/compose/docker-compose.yml up -d --wait';
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A cdklocal step failed; it has printed why. Carries its exit code. */
class StepFailed extends Error {
  constructor(readonly exitCode: number) {
    super(`exit code ${exitCode}`);
  }
}

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

const seconds = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive number of seconds`);
  return n;
};

const program = new Command('localstack:deploy')
  .description('Deploy the batchflow CDK stack to LocalStack (localstack/compose/docker-compose.yml), with its Postgres as the database.')
  .addOption(new Option('--stage <stage>', 'the stage (cdk -c stage=...)').choices(stageNames).default('dev'))
  .option('--api', 'deploy the HTTP API (default: when LocalStack reports apigatewayv2)')
  .option('--no-api', 'leave the HTTP API out (cdk -c api=false)')
  .option('--timeout <seconds>', 'how long to wait for LocalStack to answer', seconds, 60)
  .showHelpAfterError();
const opts = program.parse().opts<{ stage: StageName; api?: boolean; timeout: number }>();

const endpoint = new URL(process.env.AWS_ENDPOINT_URL ?? 'http://localhost:4566');
const endpointUrl = endpoint.href.replace(/\/+$/, '');
const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
// LocalStack accepts any credentials (test/test is its convention); the ones given are used for
// both the secret and cdklocal, so both land in the same LocalStack account.
const credentials: Credentials =
  process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY
    ? {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID,
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
        ...(process.env.AWS_SESSION_TOKEN ? { sessionToken: process.env.AWS_SESSION_TOKEN } : {}),
      }
    : { accessKeyId: 'test', secretAccessKey: 'test' };
const stackName = pipelineStackName(opts.stage);

try {
  const env = cdklocalEnvironment();
  const health = await waitForLocalStack(endpointUrl, opts.timeout * 1000, { hint: COMPOSE_UP, log: console.log });
  console.log(`LocalStack ${health.version ?? '(version unknown)'}, ${health.edition ?? 'edition unknown'}, at ${endpointUrl} (region ${region})`);
  if (!(await canConnect(HOST_DATABASE.host, HOST_DATABASE.port))) {
    // The deploy's migration runs in a Lambda against it: without it the stack fails after minutes.
    console.warn(`warning: no Postgres on ${HOST_DATABASE.host}:${HOST_DATABASE.port}; the migration step of the deploy needs the compose one (${COMPOSE_UP})`);
  }

  const secrets = new SecretsManagerClient({ endpoint: endpointUrl, region, credentials });
  const secretArn = await putDatabaseSecret(secrets, SECRET_NAME, DATABASE).finally(() => secrets.destroy());
  console.log(`secret ${secretArn}`);

  // The HTTP API is API Gateway v2, which only some LocalStack editions and plans have: ask the
  // running LocalStack rather than guess from LOCALSTACK_AUTH_TOKEN, which may not be set here.
  const apiAvailable = 'apigatewayv2' in health.services;
  const api = opts.api ?? apiAvailable;
  if (!api) console.log(`without the read HTTP API (-c api=false): ${opts.api === false ? '--no-api' : 'this LocalStack has no API Gateway v2'}`);
  if (opts.api && !apiAvailable) console.warn('warning: --api, but this LocalStack does not report apigatewayv2: the deploy will likely fail');

  const context = [
    ...['-c', 'localstack=true'],
    ...['-c', `databaseSecretArn=${secretArn}`],
    ...['-c', `stage=${opts.stage}`],
    ...(api ? [] : ['-c', 'api=false']),
  ];
  // The same context for bootstrap: it synthesizes the app to find the stack's environment.
  await cdklocal(['bootstrap', ...context], env);
  mkdirSync(localDir, { recursive: true });
  await cdklocal(['deploy', stackName, '--require-approval', 'never', '--outputs-file', OUTPUTS_FILE, ...context], env);
  printOutputs();
} catch (err) {
  if (err instanceof StepFailed) process.exit(err.exitCode);
  if (err instanceof DeployError) {
    console.error(`localstack:deploy: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The environment for cdklocal. With aws-cdk >= 2.177 it deletes every AWS_* variable that is not
 * allow-listed (AWS_PROFILE too, so nothing deploys to real AWS by accident) and defaults the rest;
 * keep the region, the credentials the secret was made with, and the SDK's Node 20 notice off.
 */
function cdklocalEnvironment(): NodeJS.ProcessEnv {
  const keep = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_ENVAR_ALLOWLIST: [process.env.AWS_ENVAR_ALLOWLIST ?? '', ...keep].filter(Boolean).join(','),
  };
  if (credentials.sessionToken) env.AWS_SESSION_TOKEN = credentials.sessionToken;
  else delete env.AWS_SESSION_TOKEN;
  // cdklocal insists on AWS_ENDPOINT_URL_S3 beside AWS_ENDPOINT_URL: the CDK addresses buckets as
  // subdomains, which `localhost` does not have. For a LocalStack on this machine, leave both to
  // cdklocal's defaults (localhost.localstack.cloud, a public name for 127.0.0.1, and its s3.
  // subdomain) on our port.
  if (!process.env.AWS_ENDPOINT_URL_S3) {
    if (!LOOPBACK.has(endpoint.hostname)) {
      throw new DeployError(
        `AWS_ENDPOINT_URL is ${endpointUrl}: cdklocal also needs AWS_ENDPOINT_URL_S3, an endpoint whose subdomains reach LocalStack's S3 (as http://s3.localhost.localstack.cloud:4566 does locally)`,
      );
    }
    delete env.AWS_ENDPOINT_URL;
    env.EDGE_PORT = endpoint.port || (endpoint.protocol === 'https:' ? '443' : '80');
    if (endpoint.protocol === 'https:') env.USE_SSL = '1';
  }
  return env;
}

/** Runs `npx cdklocal <args>` in the project root, its output on ours; rejects with its exit code. */
function cdklocal(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  console.log(`\n$ npx cdklocal ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['cdklocal', ...args], { cwd: projectRoot, env, stdio: 'inherit' });
    child.once('error', (err) => reject(new DeployError(`could not run npx cdklocal: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) return resolve();
      console.error(`localstack:deploy: cdklocal ${args[0]} failed (${signal ?? `exit code ${code}`})`);
      reject(new StepFailed(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  });
}

/** The stack's outputs, and the environment the batchflow CLI and the aws CLI need to use it. */
function printOutputs(): void {
  const all = JSON.parse(readFileSync(OUTPUTS_FILE, 'utf8')) as Record<string, Record<string, string> | undefined>;
  const outputs = all[stackName] ?? {};
  const width = Math.max(0, ...Object.keys(outputs).map((k) => k.length)) + 2;
  const bucket = outputs.BucketName ?? '<BucketName>';
  const testCredentials = credentials.accessKeyId === 'test' ? ' AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test' : '';
  console.log(`
${stackName} deployed to LocalStack; outputs (also in ${relative(projectRoot, OUTPUTS_FILE)}):
${Object.entries(outputs)
  .map(([key, value]) => `  ${key.padEnd(width)}${value}`)
  .join('\n')}

For the batchflow CLI (and the aws CLI):
  export AWS_ENDPOINT_URL=${endpointUrl} AWS_REGION=${region}${testCredentials}
  export DATABASE_URL=${HOST_DATABASE.url} BATCHFLOW_BUCKET=${bucket}
  export BATCHFLOW_SCHEDULE_GROUP=${outputs.ScheduleGroupName ?? ''} BATCHFLOW_SCHEDULER_ROLE_ARN=${outputs.SchedulerRoleArn ?? ''} BATCHFLOW_ANALYTICS_FUNCTION_ARN=${outputs.AnalyticsFunctionArn ?? ''}
Then:
  npm run batchflow -- datasets put definitions/datasets/sales.json
  aws --endpoint-url ${endpointUrl} s3 cp data.csv s3://${bucket}/${topology.bucket.uploadPrefix}sales/data.csv
  npm run batchflow -- status`);
}
