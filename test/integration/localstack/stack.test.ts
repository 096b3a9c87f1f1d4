import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createS3Client, createSqsClient } from '../../../lib/adapters/aws.ts';
import { startLocalStack } from '../../../localstack/stack.ts';
import { readLocalState } from '../../../lib/cli/localState.ts';
import { countByKey, createAttemptsTable, readAttempts, sendScripts, uniqueStage, waitFor } from './support.ts';

const endpoint = inject('awsEndpoint');
const databaseUrl = inject('databaseUrl');
const schema = 'it_localstack_stack';
const scripted = new URL('./fixtures/scriptedHandler.ts', import.meta.url);
const scratch = mkdtempSync(join(tmpdir(), 'batchflow-stack-'));

let sql: postgres.Sql;

beforeAll(async () => {
  sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await createAttemptsTable(sql, schema);
});

afterAll(async () => {
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql.end();
  rmSync(scratch, { recursive: true, force: true });
});

describe('local stack', () => {
  it('wires an upload to the splitter and the partitions queue to the processor, and publishes where it runs', async () => {
    // Prepare
    const statePath = join(scratch, 'local.json');
    const stack = await startLocalStack({
      stage: uniqueStage('it-stack'),
      endpoint,
      databaseUrl,
      databaseSchema: schema,
      entries: { splitter: scripted, processor: scripted },
      environment: { PARTITION_BYTES: '65536' },
      writeState: true,
      statePath,
    });
    const { state } = stack;
    const s3 = createS3Client({ endpoint, region: state.region });
    const sqs = createSqsClient({ endpoint, region: state.region });

    // Act
    const published = readLocalState(statePath);
    await s3.send(new PutObjectCommand({ Bucket: state.bucket, Key: 'uploads/sales/day 1.csv', Body: 'a\n1\n' }));
    await sendScripts(sqs, state.queues.partitions.url, [{ key: 'partition-0' }]);
    const attempts = await waitFor(async () => {
      const all = await readAttempts(sql, schema);
      const counts = countByKey(all);
      return counts['s3:uploads/sales/day 1.csv'] && counts['partition-0'] ? all : undefined;
    }, 60_000, 'the splitter and the processor');
    await stack.stop();
    s3.destroy();
    sqs.destroy();

    // Assess
    expect(published).toEqual(state);
    expect(state).toMatchObject({ endpoint, databaseUrl, databaseSchema: schema, pid: process.pid });
    expect(readLocalState(statePath)).toBeUndefined();
    expect(existsSync(statePath)).toBe(false);
    const split = attempts.find((a) => a.key === 's3:uploads/sales/day 1.csv')!;
    const processed = attempts.find((a) => a.key === 'partition-0')!;
    expect(split.functionName).toBe(`batchflow-${state.stage}-splitter`);
    expect(processed.functionName).toBe(`batchflow-${state.stage}-processor`);
    expect(split.env).toMatchObject({
      PARTITION_QUEUE_URL: state.queues.partitions.url,
      DATABASE_SCHEMA: schema,
      AWS_ENDPOINT_URL: endpoint,
      PARTITION_BYTES: '65536',
    });
  });
});
