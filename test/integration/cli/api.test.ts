import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { signedHeaders } from '../../../lib/adapters/apiSigner.ts';
import { createSqsClient } from '../../../lib/adapters/aws.ts';
import { migrations } from '../../../lib/store/schema.ts';
import { topology } from '../../../lib/topology.ts';
import { PARTITION_BYTES, salesCsv, usePipeline } from '../pipeline/pipeline.ts';

/**
 * The CLI against a stack's HTTP API (`--target api`, BATCHFLOW_API_URL): the local stack's API with
 * SigV4 checked as API Gateway's IAM authorisation does (httpApiAuth), the real CLI as a user runs
 * it. Each command's answer is checked against the same command with `--target database` on the
 * same stack — the CLI reading Postgres and AWS itself, an independent path — and against what the
 * test computes from the file it uploads.
 */

const p = usePipeline('cli-api', { httpApiPort: 0, httpApiAuth: 'sigv4' });
const region = inject('awsRegion');
const bin = fileURLToPath(new URL('../../../bin/batchflow.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'batchflow-cli-api-'));
// No shared profile, no instance metadata: the credentials are the ones a test gives.
const isolated = { PATH: process.env.PATH ?? '', HOME: scratch, AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const keys = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: region };

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI in a child process; asynchronous, since the stack it talks to runs in this one. */
function cli(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...isolated, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Through the API, bucket and all from GET /api/stack; only the S3 endpoint is the local one. */
const api = () => ({ ...keys, BATCHFLOW_TARGET: 'api', BATCHFLOW_API_URL: p.stack.httpApi!.url, AWS_ENDPOINT_URL: p.endpoint });
/** The same stack reached directly: its Postgres schema and its AWS resources. */
const direct = () => ({
  ...keys,
  BATCHFLOW_TARGET: 'database',
  DATABASE_URL: p.databaseUrl,
  DATABASE_SCHEMA: p.schema,
  AWS_ENDPOINT_URL: p.endpoint,
  BATCHFLOW_BUCKET: p.bucket,
  BATCHFLOW_PARTITION_QUEUE_URL: p.stack.state.queues.partitions.url,
  BATCHFLOW_INGEST_QUEUE_URL: p.stack.state.queues.ingest.url,
});
const json = (run: Run) => {
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as unknown;
};
const file = (name: string, content: string) => {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
};

// One hour of sales, each region with its amounts, and one line whose amount is not a number.
const good = [
  ['2024-03-04T10:05:00Z', 'north', 'widget', 1.5, 2],
  ['2024-03-04T10:20:00Z', 'south', 'widget', 4, 1],
  ['2024-03-04T11:40:00Z', 'north', 'gadget', 3.25, 4],
  ['2024-03-04T12:00:00Z', 'east', 'gadget', 10, 5],
  ['2024-03-05T09:00:00Z', 'south', 'gizmo', 2.5, 3],
] as const;
const badLine = '2024-03-04T13:00:00Z,north,widget,not-a-number,1';
const csv = ['ts,region,product,amount,quantity', ...good.map((r) => r.join(',')), badLine].join('\n') + '\n';
const state: { jobId?: number } = {};

describe('the CLI through the HTTP API (--target api)', () => {
  it('puts and lists datasets as the database target sees them', async () => {
    // Prepare
    const definition = file('cli_api.json', JSON.stringify(salesCsv('cli_api')));

    // Act
    const put = await cli(api(), 'datasets', 'put', definition);
    const again = await cli(api(), 'datasets', 'put', definition);
    const viaApi = await cli(api(), 'datasets', 'list', '--json');
    const viaDb = await cli(direct(), 'datasets', 'list', '--json');

    // Assess
    expect(put.stderr).toBe('');
    expect(put.stdout).toBe('dataset "cli_api" created (rollups: [region] [product] [region,product] [])\n');
    expect(again.stdout).toBe('dataset "cli_api" saved (rollups: [region] [product] [region,product] [])\n');
    expect(json(viaApi)).toEqual(json(viaDb));
    expect((json(viaApi) as { name: string }[]).map((d) => d.name)).toEqual(['cli_api']);
  });

  it('uploads to the bucket the API names and waits for the job through the API', async () => {
    // Act
    // A space in the name: the key filter's query is sent as signed (%20, not "+").
    const run = await cli(api(), 'upload', file('sales 2024.csv', csv), '--dataset', 'cli_api', '--wait', '--json');
    const unknown = await cli(api(), 'upload', file('sales.csv', csv), '--dataset', 'cli_api_none');

    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('batchflow: no dataset named "cli_api_none": register it first with batchflow datasets put <file.json>\n');
    // Assess: records read are the file's lines less its header; the bad line is the one rejected.
    const summary = json(run) as { jobId: number; status: string; records: number; rejected: number };
    expect(summary).toMatchObject({ status: 'completed_with_rejects', records: good.length + 1, rejected: 1 });
    state.jobId = summary.jobId;
  });

  it('answers status, status <id> and rejects as the database does', async () => {
    // Act
    const [list, listDb, one, oneDb, rejects, rejectsDb, table] = await Promise.all([
      cli(api(), 'status', '--json'),
      cli(direct(), 'status', '--json'),
      cli(api(), 'status', String(state.jobId), '--json'),
      cli(direct(), 'status', String(state.jobId), '--json'),
      cli(api(), 'rejects', String(state.jobId), '--json'),
      cli(direct(), 'rejects', String(state.jobId), '--json'),
      cli(api(), 'status'),
    ]);

    // Assess
    expect(json(list)).toEqual(json(listDb));
    expect(json(one)).toEqual(json(oneDb));
    expect(json(one)).toMatchObject({ jobId: state.jobId, failedPartitions: [] });
    expect(json(rejects)).toEqual(json(rejectsDb));
    expect(json(rejects)).toEqual([expect.objectContaining({ line: good.length + 2, raw: badLine })]);
    expect(table.stdout).toContain(`${state.jobId}    cli_api  completed_with_rejects  ${good.length + 1}`);
  });

  it('queries the rollups as the database does, with the sums of the file', async () => {
    // Act
    const args = ['query', '--dataset', 'cli_api', '--granularity', '1-day', '--by', 'region', '--json'];
    const [viaApi, viaDb] = await Promise.all([cli(api(), ...args), cli(direct(), ...args)]);

    // Assess
    const rows = json(viaApi) as { bucketStart: string; region: string; metric: string; sum: number }[];
    expect(rows).toEqual(json(viaDb));
    const expected = new Map<string, number>();
    for (const [ts, r, , amount] of good) expected.set(`${ts.slice(0, 10)} ${r}`, (expected.get(`${ts.slice(0, 10)} ${r}`) ?? 0) + amount);
    const got = new Map(rows.filter((r) => r.metric === 'amount').map((r) => [`${r.bucketStart.slice(0, 10)} ${r.region}`, r.sum]));
    expect(got).toEqual(expected);
  });

  it('lists, runs and reads analytics jobs as the database does', async () => {
    // Prepare
    const definition = { name: 'cli-api-daily', enabled: true, schedule: '0 8 * * *', dataset: 'cli_api', entity: 'region', granularity: '1-day', delayHours: 0, metrics: [{ metric: 'amount', aggregations: ['sum'] }] };

    // Act: put through the API (PUT /api/analytics/jobs/{name}), everything else read both ways.
    const put = await cli(api(), 'analytics', 'put', file('job.json', JSON.stringify(definition)));
    expect(put.status, put.stderr).toBe(0);
    const [list, listDb] = await Promise.all([cli(api(), 'analytics', 'list', '--json'), cli(direct(), 'analytics', 'list', '--json')]);
    const run = await cli(api(), 'analytics', 'run', 'cli-api-daily', '--at', '2024-03-05T08:00:00Z', '--json');
    const [results, resultsDb] = await Promise.all([
      cli(api(), 'results', '--job', 'cli-api-daily', '--json'),
      cli(direct(), 'results', '--job', 'cli-api-daily', '--json'),
    ]);

    // Assess
    expect(json(list)).toEqual(json(listDb));
    expect((json(listDb) as { definition: { name: string; schedule: string } }[]).map((j) => j.definition)).toContainEqual(expect.objectContaining({ name: 'cli-api-daily', schedule: '0 8 * * *' }));
    const written = json(run) as { windowStart: string; entity: string; value: number }[];
    // The window of 2024-03-04: each region's amounts of that day.
    const day = new Map<string, number>();
    for (const [ts, r, , amount] of good) if (ts.startsWith('2024-03-04')) day.set(r, (day.get(r) ?? 0) + amount);
    expect(new Map(written.map((w) => [w.entity, w.value]))).toEqual(day);
    expect(json(results)).toEqual(json(resultsDb));
    expect(json(results)).toEqual(written);
  });

  it('answers stop, restart and retry of a completed job with the 409 the database target gives as its refusal', async () => {
    // Act
    const id = String(state.jobId);
    const runs = await Promise.all(
      [['stop', id], ['restart', id], ['retry', id, '--partition', '0']].flatMap((args) => [cli(api(), ...args), cli(direct(), ...args)]),
    );

    // Assess
    const paths = [`/api/batch-jobs/${id}/stop`, `/api/batch-jobs/${id}/restart`, `/api/batch-partitions/${id}-0/retry`];
    paths.forEach((path, i) => {
      const [viaApi, viaDb] = [runs[2 * i]!, runs[2 * i + 1]!];
      expect(viaDb.status).toBe(1);
      expect(viaApi.status).toBe(1);
      expect(viaApi.stderr).toBe(`batchflow: POST ${path}: 409 ${viaDb.stderr.replace(/^batchflow: /, '')}`);
    });
  });

  it('deletes a dataset through the API', async () => {
    // Prepare
    const definition = file('cli_api_gone.json', JSON.stringify(salesCsv('cli_api_gone')));
    await cli(api(), 'datasets', 'put', definition);

    // Act
    const deleted = await cli(api(), 'datasets', 'delete', 'cli_api_gone');
    const again = await cli(api(), 'datasets', 'delete', 'cli_api_gone');
    const listed = await cli(direct(), 'datasets', 'list', '--json');

    // Assess
    expect(deleted.stdout).toBe('dataset "cli_api_gone" deleted: 0 ingestion job(s), 0 aggregate row(s)\n');
    expect(again.status).toBe(1);
    expect(again.stderr).toBe('batchflow: DELETE /api/datasets/cli_api_gone: 404 no dataset named "cli_api_gone"\n');
    expect((json(listed) as { name: string }[]).map((d) => d.name)).toEqual(['cli_api']);
  });

  it('deletes a dataset an analytics job reads only with --force, and the job with it, as the database target does', async () => {
    // Prepare: two datasets, each read by an analytics job; one is deleted each way.
    for (const which of ['a', 'b']) {
      const put = await cli(direct(), 'datasets', 'put', file(`cli_api_read_${which}.json`, JSON.stringify(salesCsv(`cli_api_read_${which}`))));
      expect(put.status, put.stderr).toBe(0);
      const reader = { name: `cli-api-reader-${which}`, enabled: true, schedule: '0 7 * * *', dataset: `cli_api_read_${which}`, entity: 'region', granularity: '1-day', delayHours: 0, metrics: [{ metric: 'amount', aggregations: ['sum'] }] };
      const job = await cli(direct(), 'analytics', 'put', file(`cli-api-reader-${which}.json`, JSON.stringify(reader)));
      expect(job.status, job.stderr).toBe(0);
    }

    // Act
    const refused = await cli(api(), 'datasets', 'delete', 'cli_api_read_a');
    const refusedDb = await cli(direct(), 'datasets', 'delete', 'cli_api_read_b');
    const forced = await cli(api(), 'datasets', 'delete', 'cli_api_read_a', '--force');
    const forcedDb = await cli(direct(), 'datasets', 'delete', 'cli_api_read_b', '--force');
    const jobs = await cli(direct(), 'analytics', 'list', '--json');

    // Assess
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(`batchflow: DELETE /api/datasets/cli_api_read_a: 409 ${refusedDb.stderr.replace(/^batchflow: /, '').replaceAll('_b', '_a').replaceAll('-b', '-a')}`);
    expect(forced).toMatchObject({ status: 0, stderr: '' });
    expect(forced.stdout).toBe(forcedDb.stdout.replaceAll('_b', '_a').replaceAll('-b"', '-a"').replaceAll('reader-b', 'reader-a'));
    expect(forced.stdout).toContain('analytics job(s) cli-api-reader-a');
    expect((json(jobs) as { definition: { name: string } }[]).map((j) => j.definition.name)).not.toEqual(expect.arrayContaining(['cli-api-reader-a']));
  });

  it('says what migrate does over the API, and checks a definition before sending it', async () => {
    // Act
    const migrate = await cli(api(), 'migrate');
    const badJob = await cli(api(), 'analytics', 'put', file('bad-job.json', JSON.stringify({ name: 'x' })));

    // Assess
    expect(migrate).toMatchObject({ status: 0, stderr: '' });
    expect(migrate.stdout).toBe('nothing to do: a deployed stack migrates its schema itself on every deploy (its Migrate function)\n');
    expect(badJob.status).toBe(1);
    expect(badJob.stderr).toMatch(new RegExp(`^batchflow: ${join(scratch, 'bad-job.json')}: `));
  });

  it('redrives the dead letters of the queue the API names, as the database target does', async () => {
    // Prepare: S3's test event, which the splitter reads and drops, dead-lettered twice over.
    const { ingest } = p.stack.state.queues;
    const sqs = createSqsClient({ endpoint: p.endpoint, region });
    const deadLetter = () => sqs.send(new SendMessageCommand({ QueueUrl: ingest.deadLetterUrl, MessageBody: JSON.stringify({ Event: 's3:TestEvent' }) }));
    const waiting = async () => Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: ingest.deadLetterUrl, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages);
    await deadLetter();
    await deadLetter();

    // Act
    const viaApi = await cli(api(), 'redrive', '--queue', 'ingest', '--json');
    const leftByApi = await waiting();
    await deadLetter();
    const viaDb = await cli(direct(), 'redrive', '--queue', 'ingest', '--json');

    // Assess: moved from here (moto has no StartMessageMoveTask), every message, whichever the target.
    expect(json(viaApi)).toEqual({ method: 'copied', moved: 2 });
    expect(leftByApi).toBe(0);
    expect(json(viaDb)).toEqual({ method: 'copied', moved: 1 });
    expect(await waiting()).toBe(0);
  });

  it('deletes an analytics job through the API as the database target does, and answers an unknown one in one line', async () => {
    // Prepare: two jobs put directly, one to delete each way.
    const definition = (name: string) => ({ name, enabled: true, schedule: '0 9 * * *', dataset: 'cli_api', entity: 'region', granularity: '1-day', delayHours: 0, metrics: [{ metric: 'amount', aggregations: ['count'] }] });
    for (const name of ['cli-api-gone-a', 'cli-api-gone-b']) {
      const put = await cli(direct(), 'analytics', 'put', file(`${name}.json`, JSON.stringify(definition(name))));
      expect(put.status, put.stderr).toBe(0);
    }

    // Act
    const viaApi = await cli(api(), 'analytics', 'delete', 'cli-api-gone-a');
    const viaDb = await cli(direct(), 'analytics', 'delete', 'cli-api-gone-b');
    const again = await cli(api(), 'analytics', 'delete', 'cli-api-gone-a');
    const listed = await cli(direct(), 'analytics', 'list', '--json');

    // Assess
    expect(viaApi).toMatchObject({ status: 0, stderr: '' });
    expect(viaApi.stdout).toBe(viaDb.stdout.replaceAll('cli-api-gone-b', 'cli-api-gone-a'));
    expect((json(listed) as { definition: { name: string } }[]).map((j) => j.definition.name)).not.toContain('cli-api-gone-a');
    expect(again.status).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/^batchflow: (no analytics job named "cli-api-gone-a"|DELETE \/api\/analytics\/jobs\/cli-api-gone-a: 404 .+)\n$/);
  });

  it('runs `tune --json` (a dry run) through GET /api/tuning/recommendations on the settings --target database reads', async () => {
    // Prepare: the direct target reads the same processor, splitter and queue the API's tuner does
    const { processor, splitter } = p.stack.provisioned.functions;
    const tuner = { BATCHFLOW_PROCESSOR_FUNCTION: processor.name, BATCHFLOW_SPLITTER_FUNCTION: splitter.name, BATCHFLOW_PARTITION_QUEUE_ARN: p.stack.state.queues.partitions.arn };

    // Act
    const [viaApi, viaDb] = await Promise.all([cli(api(), 'tune', '--json'), cli({ ...direct(), ...tuner }, 'tune', '--json')]);

    // Assess: the same parameters at the same current values (a recommendation may differ if a minute passes between them)
    expect(viaApi, viaApi.stderr).toMatchObject({ status: 0, stderr: '' });
    const pick = (run: Run) => (JSON.parse(run.stdout) as { parameter: string; currentValue: number | null }[]).map(({ parameter, currentValue }) => ({ parameter, currentValue }));
    // The Lambda levers as both read them; the partition size as the stack's splitter has it (the
    // direct target knows only the topology's default, the API function the stack's PARTITION_BYTES).
    const lambdaLevers = (run: Run) => pick(run).filter((r) => r.parameter !== 'partitionBytes');
    expect(lambdaLevers(viaApi), viaDb.stdout + viaDb.stderr).toEqual(lambdaLevers(viaDb));
    expect(pick(viaApi)).toEqual([
      { parameter: 'maxConcurrency', currentValue: topology.functions.processor.maxConcurrency },
      { parameter: 'reservedConcurrency', currentValue: lambdaLevers(viaDb)[1]!.currentValue },
      { parameter: 'partitionBytes', currentValue: PARTITION_BYTES },
      { parameter: 'batchSize', currentValue: topology.functions.processor.batchSize },
    ]);
  });

  it("lists a job's failed partitions in status <id> as the database does", async () => {
    // Prepare: the job's first partition recorded as failed (as the processor's last attempt leaves it).
    const { db } = p;
    await db.sql`update ${db.table('batch_partitions')} set status = 'failed', attempts = 3, error = 'boom' where job_id = ${state.jobId!} and idx = 0`;
    await db.sql`update ${db.table('batch_jobs')} set partitions_failed = 1 where job_id = ${state.jobId!}`;

    // Act
    const [viaApi, viaDb] = await Promise.all([cli(api(), 'status', String(state.jobId), '--json'), cli(direct(), 'status', String(state.jobId), '--json')]);

    // Assess
    expect(json(viaApi)).toEqual(json(viaDb));
    expect(json(viaApi)).toMatchObject({ partitionsFailed: 1, failedPartitions: [{ idx: 0, attempts: 3, error: 'boom' }] });
  });

  it('says in --verbose that it goes to the API and how it was chosen', async () => {
    // Act
    const run = await cli(api(), '--verbose', 'datasets', 'list', '--json');

    // Assess
    expect(run.status).toBe(0);
    expect(run.stderr).toBe(`batchflow: target api (from BATCHFLOW_TARGET): API ${p.stack.httpApi!.url}, signing region ${region} unless the host names one\n`);
  });

  it('prints one line, exit 1 and no stack trace, when the API cannot be reached', async () => {
    // Prepare: a loopback port that was just free refuses at once (fetch will not even try port 1).
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));

    // Act
    const run = await cli({ ...api(), BATCHFLOW_API_URL: `http://127.0.0.1:${port}/` }, 'status');

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `batchflow: cannot reach the batchflow API at http://127.0.0.1:${port}/: ECONNREFUSED (is \`npm run local\` running?); check BATCHFLOW_API_URL (the stack output ApiUrl) and your network\n`,
    );
  });
});

describe('SigV4 on the local API (httpApiAuth: sigv4), checked with the SDK signer', () => {
  const url = (path: string) => new URL(path, p.stack.httpApi!.url);
  const good = { kind: 'signed', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, region } as const;

  /** A GET signed as the CLI signs it. */
  const signedGet = async (path: string) => {
    const target = url(path);
    const { host: _host, ...headers } = await signedHeaders({ method: 'GET', url: target }, good);
    const response = await fetch(target, { headers });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  it('names the upload bucket, the region, the queues and the schema in GET /api/stack', async () => {
    // Act
    const stack = await signedGet('/api/stack');

    // Assess
    expect(stack).toEqual({ status: 200, body: { uploadBucket: p.bucket, region, queues: { ingest: p.stack.state.queues.ingest.url, partitions: p.stack.state.queues.partitions.url }, schema: { applied: migrations.map((m) => m.version), missing: [] } } });
  });

  it("finds an object's job by key in GET /api/batch-jobs, and no job for another key", async () => {
    // Prepare: the key of the job uploaded above, from the database.
    const [row] = await p.db.sql<{ key: string }[]>`select key from ${p.db.table('batch_jobs')} where job_id = ${state.jobId!}`;

    // Act
    const found = await signedGet(`/api/batch-jobs?key=${encodeURIComponent(row!.key)}`);
    const other = await signedGet(`/api/batch-jobs?key=${encodeURIComponent(`${row!.key}.other`)}`);

    // Assess
    expect(found.body).toMatchObject({ items: [{ jobId: state.jobId, key: row!.key }], nextCursor: null });
    expect(other.body).toEqual({ items: [], nextCursor: null });
  });

  it('refuses the CLI with a wrong secret, or with no credentials at all, with the 403 and what to check', async () => {
    // Act
    const wrong = await cli({ ...api(), AWS_SECRET_ACCESS_KEY: 'not-the-secret' }, 'datasets', 'list');
    const { AWS_ACCESS_KEY_ID: _a, AWS_SECRET_ACCESS_KEY: _s, ...unsigned } = api();
    const none = await cli(unsigned, 'datasets', 'list');

    // Assess
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toBe(
      'batchflow: GET /api/datasets: 403 The request signature we calculated does not match the signature you provided. (the credentials are not valid for this API, or lack execute-api:Invoke on GET /api/datasets: see README "Using a deployed stack")\n',
    );
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^batchflow: GET \/api\/datasets: 403 Missing Authentication Token \(/);
  });

  it('serves a signed request, and refuses it once its query or body is changed', async () => {
    // Prepare
    const list = url('/api/batch-jobs?limit=5');
    const listHeaders = await signedHeaders({ method: 'GET', url: list }, good);
    const putUrl = url('/api/datasets/cli_api_tampered');
    const body = JSON.stringify(salesCsv('cli_api_tampered'));
    const putHeaders = await signedHeaders({ method: 'PUT', url: putUrl, body }, good);
    const send = (target: URL, headers: Record<string, string>, init: { method?: string; body?: string } = {}) => {
      const { host: _host, ...sent } = headers;
      return fetch(target, { ...init, headers: sent });
    };

    // Act
    const signed = await send(list, listHeaders);
    const otherQuery = await send(url('/api/batch-jobs?limit=6'), listHeaders);
    const otherBody = await send(putUrl, putHeaders, { method: 'PUT', body: body.replace('cli_api_tampered', 'cli_api_tampered2') });
    const otherPath = await send(url('/api/datasets/cli_api_other'), putHeaders, { method: 'PUT', body });
    const unsigned = await fetch(list);

    // Assess
    expect(signed.status).toBe(200);
    for (const refused of [otherQuery, otherBody, otherPath]) {
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ message: 'The request signature we calculated does not match the signature you provided.' });
    }
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({ message: 'Missing Authentication Token' });
  });
});
