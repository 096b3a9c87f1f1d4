import { randomBytes } from 'node:crypto';
import { CreateQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createSqsClient } from '../../../lib/adapters/aws.ts';
import { resourceUsageRecorder, sqsQueueDepth } from '../../../lib/adapters/resourceUsageRecorder.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { migrate } from '../../../lib/store/migrate.ts';

const schema = `it_usage_${randomBytes(3).toString('hex')}`;
const sqs = createSqsClient({ endpoint: inject('awsEndpoint'), region: inject('awsRegion') });
let db: Db;
let queueUrl: string;

const context = (requestId: string) =>
  ({ awsRequestId: requestId, getRemainingTimeInMillis: () => 60_000, functionName: 'f', callbackWaitsForEmptyEventLoop: false }) as unknown as Context;

/** A logger that keeps what it was told. */
function keeper() {
  const warned: { message: string; error: Error }[] = [];
  return { warned, warn: (message: string, extra: { error: Error }) => void warned.push({ message, error: extra.error }) };
}

const rows = () =>
  db.sql<{ request_id: string; duration_ms: number; succeeded: boolean; max_rss_mib: number; memory_mb: number | null; pool_cap: number; queue_visible: number | null; db_connections: number; max_connections: number }[]>`
    select * from ${db.table('resource_usage')} order by id`;

beforeAll(async () => {
  db = connectDb({ url: inject('databaseUrl'), schema, max: 2 });
  await migrate(db);
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `it-usage-${randomBytes(3).toString('hex')}` }))).QueueUrl!;
  await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [0, 1, 2].map((i) => ({ Id: String(i), MessageBody: `m${i}` })) }));
});

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
  sqs.destroy();
});

describe('resourceUsageRecorder', () => {
  it('stores one row per invocation, failed ones too, sampling the queue once per interval', async () => {
    // Prepare
    const logger = keeper();
    let failNext = false;
    const handler = middy<unknown, unknown, Error, Context>()
      .use(resourceUsageRecorder({ db, function: 'processor', memoryMb: 1024, poolCap: 2, logger, queueDepth: sqsQueueDepth(sqs, queueUrl), sampleEveryMs: 60_000 }))
      .handler(async () => {
        await new Promise((r) => setTimeout(r, 120));
        if (failNext) throw new Error('handler failed');
        return 'done';
      });
    const [{ max_connections: maxConnections }] = await db.sql`show max_connections`;

    // Act
    const t0 = performance.now();
    const first = await handler({}, context('r1'));
    const measured = performance.now() - t0;
    const second = await handler({}, context('r2'));
    failNext = true;
    const third = await handler({}, context('r3')).catch((err: Error) => err);
    const stored = await rows();

    // Assess
    expect([first, second]).toEqual(['done', 'done']);
    expect(third).toBeInstanceOf(Error);
    expect((third as Error).message).toBe('handler failed');
    expect(stored.map((r) => [r.request_id, r.succeeded])).toEqual([['r1', true], ['r2', true], ['r3', false]]);
    // The handler slept 120 ms; the whole invocation, measured here, bounds the row's duration from above.
    expect(stored[0]!.duration_ms).toBeGreaterThanOrEqual(119);
    expect(stored[0]!.duration_ms).toBeLessThanOrEqual(measured);
    // Three messages sent, none received: visible 3 on the first invocation, not sampled again within the minute.
    expect(stored.map((r) => r.queue_visible)).toEqual([3, null, null]);
    expect(stored.every((r) => r.memory_mb === 1024 && r.pool_cap === 2 && r.db_connections >= 1 && r.max_connections === Number(maxConnections))).toBe(true);
    expect(stored[0]!.max_rss_mib).toBeLessThanOrEqual(process.resourceUsage().maxRSS / 1024);
    expect(logger.warned).toEqual([]);
  });

  it('never fails the invocation when the row or the sample cannot be written', async () => {
    // Prepare: a pool to a database that does not exist, a queue that does not exist
    const broken = connectDb({ url: inject('databaseUrl').replace(/\/[^/]*$/, '/no_such_database_here'), schema, max: 1 });
    const logger = keeper();
    const handler = middy<unknown, unknown, Error, Context>()
      .use(resourceUsageRecorder({ db: broken, function: 'splitter', memoryMb: undefined, poolCap: 1, logger, queueDepth: sqsQueueDepth(sqs, `${queueUrl}-missing`) }))
      .handler(async () => 'still done');

    // Act
    const result = await handler({}, context('r9')).finally(() => broken.close());

    // Assess
    expect(result).toBe('still done');
    expect(logger.warned.map((w) => w.message).sort()).toEqual(['could not record resource usage', 'could not sample the queue depth']);
  });

  it('is attached to the analytics function: its failed run is a row with the memory Lambda gives it', async () => {
    // Prepare
    vi.stubEnv('DATABASE_URL', inject('databaseUrl'));
    vi.stubEnv('DATABASE_SCHEMA', schema);
    vi.stubEnv('DATABASE_POOL_SIZE', '1');
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '512');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    try {
      const entry = await import('../../../functions/analytics.ts');

      // Act
      const outcome = await entry.handler({ job: 'no-such-job' }, context('analytics-1')).catch((err: Error) => err);
      const [row] = await db.sql`select function, succeeded, memory_mb, pool_cap from ${db.table('resource_usage')} where request_id = 'analytics-1'`;

      // Assess
      expect((outcome as Error).message).toBe('no analytics job named "no-such-job"');
      expect(row).toEqual({ function: 'analytics', succeeded: false, memory_mb: 512, pool_cap: 1 });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
