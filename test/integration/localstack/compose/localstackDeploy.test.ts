import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DeleteSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readDeploymentContext } from '../../../../infra/context.ts';
import { DeployError, putDatabaseSecret, waitForLocalStack } from '../../../../localstack/compose/localstackDeploy.ts';

/**
 * What `npm run localstack:deploy` does before cdklocal, against a real endpoint: LocalStack needs
 * Docker, which this machine lacks, so the secret goes to moto, and the health check meets moto,
 * a stand-in health endpoint and a closed port.
 */

const endpoint = inject('awsEndpoint');
const client = new SecretsManagerClient({ endpoint, region: inject('awsRegion') });
const projectRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const compose = 'docker compose -f localstack/compose/docker-compose.yml up -d --wait';

/** An HTTP server on a free port answering every request with `body`. */
async function serve(status: number, body: unknown): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A port nothing listens on: one a server had, after it closed. */
async function closedPort(): Promise<string> {
  const { server, url } = await serve(200, {});
  await new Promise((resolve) => server.close(resolve));
  return url;
}

describe('putDatabaseSecret', () => {
  const name = `batchflow/it-${randomBytes(3).toString('hex')}`;
  afterAll(async () => {
    await client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })).catch(() => {});
    client.destroy();
  });

  it('creates the secret with the full ARN the stack accepts, then updates it in place, restoring it after a deletion', async () => {
    // Prepare
    const first = { host: 'postgres', port: 5432, username: 'batchflow', password: 'batchflow', dbname: 'batchflow' };
    const second = { ...first, dbname: 'other' };
    const read = async () => JSON.parse((await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!);

    // Act
    const created = await putDatabaseSecret(client, name, first);
    const valueAfterCreate = await read();
    const updated = await putDatabaseSecret(client, name, second);
    const valueAfterUpdate = await read();
    await client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    const restored = await putDatabaseSecret(client, name, first);
    const valueAfterRestore = await read();

    // Assess
    expect(created).toMatch(/-[A-Za-z0-9]{6}$/);
    expect(readDeploymentContext(new App({ context: { localstack: 'true', databaseSecretArn: created } })).database).toMatchObject({ kind: 'external', secretArn: created });
    expect([valueAfterCreate, valueAfterUpdate, valueAfterRestore]).toEqual([first, second, first]);
    expect([updated, restored]).toEqual([created, created]);
  });
});

describe('waitForLocalStack', () => {
  let health: { server: Server; url: string };
  beforeAll(async () => {
    health = await serve(200, { services: { s3: 'running', apigatewayv2: 'available' }, edition: 'pro', version: '4.15.0' });
  });
  afterAll(() => new Promise((resolve) => health.server.close(resolve)));

  it("returns LocalStack's health report, with the services the deploy decides on", async () => {
    // Act
    const report = await waitForLocalStack(health.url, 5_000, { hint: compose });

    // Assess
    expect(report).toEqual({ services: { s3: 'running', apigatewayv2: 'available' }, edition: 'pro', version: '4.15.0' });
  });

  it('says that something else answers when the endpoint is moto, and how to start LocalStack', async () => {
    // Act
    const wait = waitForLocalStack(endpoint, 0, { hint: compose });

    // Assess
    await expect(wait).rejects.toThrow(DeployError);
    await expect(waitForLocalStack(endpoint, 0, { hint: compose })).rejects.toThrow(/something answered \(HTTP \d+\) but not LocalStack's health report[\s\S]*docker compose -f localstack\/compose\/docker-compose.yml up -d --wait/);
  });

  it('says that nothing answers on a closed port, after waiting for it', async () => {
    // Prepare
    const url = await closedPort();
    const started = Date.now();

    // Act
    const wait = waitForLocalStack(url, 1_500, { hint: compose });

    // Assess
    await expect(wait).rejects.toThrow(/nothing answered \(ECONNREFUSED\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
  });
});

describe('npm run localstack:deploy', () => {
  it('exits 1 with the reason, and no stack trace, when LocalStack is not running', async () => {
    // Prepare
    const url = await closedPort();

    // Act
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'localstack/compose/deploy.ts', '--timeout', '1'], {
      cwd: projectRoot,
      env: { ...process.env, AWS_ENDPOINT_URL: url, AWS_ENDPOINT_URL_S3: url },
      encoding: 'utf8',
      timeout: 60_000,
    });

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`localstack:deploy: LocalStack is not running at ${url}/_localstack/health: nothing answered`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
