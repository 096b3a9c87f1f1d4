import { createHash } from 'node:crypto';
import { UpdateEventSourceMappingCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createCloudWatchClient, createLambdaClient, createSqsClient } from '../../../../../lib/adapters/aws.ts';
import { readObservation } from '../../../../../lib/adapters/metricsReader.ts';
import { startSqsPoller, type SqsPoller, type LocalFunction } from '../../../../../localstack/events/sqs/sqsPoller.ts';
import { eventSourceMappings, type MappingSettings, type MappingSettingsSource } from '../../../../../localstack/events/sqs/mappingSettings.ts';
import { provision, type Provisioned, type ProvisionedQueue, type QueueSettings } from '../../../../../localstack/services/provision.ts';
import type { Script } from '../../fixtures/scriptedHandler.ts';
import { countByKey, createAttemptsTable, maxOverlap, queueDepth, readAttempts, sendScripts, uniqueStage, waitFor } from '../../support.ts';

const endpoint = inject('awsEndpoint');
const region = inject('awsRegion');
const databaseUrl = inject('databaseUrl');
const schema = 'it_localstack_lambda';
const scripted = new URL('../../fixtures/scriptedHandler.ts', import.meta.url);
const broken = new URL('./fixtures/brokenModule.ts', import.meta.url);
const emf = new URL('./fixtures/emfHandler.ts', import.meta.url);

let sql: postgres.Sql;
let sqs: SQSClient;
let lambda: LambdaClient;
let service: SqsPoller | undefined;

interface Harness {
  readonly queue: ProvisionedQueue;
  readonly service: SqsPoller;
  readonly functionName: string;
  readonly provisioned: Provisioned;
}

/** A fresh partitions queue (and DLQ) with one function polling it. */
async function startHarness(options: {
  /** Fixed, changed by the test, or read from the event source mapping at the endpoint. */
  readonly settings: MappingSettings | (() => MappingSettings) | 'endpoint';
  readonly queue?: Partial<QueueSettings>;
  readonly entry?: URL;
  readonly timeoutSeconds?: number;
  readonly metricsIntervalMs?: number;
  readonly maxConcurrentInvocations?: number;
  readonly before?: (queue: ProvisionedQueue, provisioned: Provisioned) => Promise<void>;
}): Promise<Harness> {
  const stage = uniqueStage('it-lsvc');
  const provisioned = await provision({
    stage,
    endpoint,
    region,
    // Short, so redelivery tests are quick, yet past a worker's cold start on a loaded machine (a
    // delivery outliving it would be redelivered, as SQS does, and counted twice).
    queueOverrides: { partitions: { visibilityTimeoutSeconds: 6, ...options.queue } },
  });
  const queue = provisioned.queues.partitions;
  await options.before?.(queue, provisioned);
  const fn: LocalFunction = {
    name: `batchflow-${stage}-processor`,
    key: 'processor',
    entry: options.entry ?? scripted,
    queueUrl: queue.url,
    queueArn: queue.arn,
    memoryMb: 256,
    timeoutSeconds: options.timeoutSeconds ?? 30,
    environment: {
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: schema,
      PARTITION_QUEUE_URL: queue.url,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
  };
  const settings = options.settings;
  const { mappingUuid } = provisioned.functions.processor;
  const mappings: MappingSettingsSource =
    settings === 'endpoint'
      ? eventSourceMappings(lambda, { processor: { functionName: fn.name, queueArn: queue.arn, mappingUuid } })
      : { read: async () => (typeof settings === 'function' ? settings() : settings) };
  service = await startSqsPoller({
    functions: [fn],
    endpoint,
    region,
    mappings,
    settingsRefreshMs: 200,
    ...(options.metricsIntervalMs !== undefined ? { metricsIntervalMs: options.metricsIntervalMs } : {}),
    ...(options.maxConcurrentInvocations !== undefined ? { maxConcurrentInvocations: options.maxConcurrentInvocations } : {}),
  });
  return { queue, service, functionName: fn.name, provisioned };
}

const scripts = (n: number, script: Omit<Script, 'key'> = {}, prefix = 'm'): Script[] =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, ...script }));

/** Waits until the queue is empty and `n` attempts are recorded; returns the attempts. */
async function settled(queue: ProvisionedQueue, n: number) {
  await waitFor(async () => (await readAttempts(sql, schema)).length >= n, 60_000, `${n} attempts`);
  await waitFor(async () => (await queueDepth(sqs, queue.url)) === 0, 60_000, 'an empty queue');
  return readAttempts(sql, schema);
}

beforeAll(async () => {
  sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  sqs = createSqsClient({ endpoint, region });
  lambda = createLambdaClient({ endpoint, region });
  await createAttemptsTable(sql, schema);
});

beforeEach(async () => {
  await sql`truncate ${sql(`${schema}.attempts`)}`;
});

afterEach(async () => {
  await service?.stop({ drainTimeoutMs: 5_000 });
  service = undefined;
});

afterAll(async () => {
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql.end();
  sqs.destroy();
  lambda.destroy();
});

describe('SQS poller', () => {
  it('processes every message exactly once when all succeed', async () => {
    // Prepare
    const sent = scripts(25);
    const { queue, service } = await startHarness({ settings: { batchSize: 10, maxConcurrency: 2 } });

    // Act
    await sendScripts(sqs, queue.url, sent);
    const attempts = await settled(queue, sent.length);

    // Assess
    expect(countByKey(attempts)).toEqual(Object.fromEntries(sent.map((s) => [s.key, 1])));
    expect(attempts.every((a) => a.receiveCount === 1 && a.batchSize <= 10)).toBe(true);
    expect(await queueDepth(sqs, queue.deadLetter.url)).toBe(0);
    expect(Object.values(service.stats)[0]).toMatchObject({ succeededRecords: 25, failedRecords: 0 });
  });

  it('hands the handler an SQS event, context and environment as Lambda does', async () => {
    // Prepare
    const { queue, functionName } = await startHarness({ settings: { batchSize: 1, maxConcurrency: 1 } });
    const body = JSON.stringify({ key: 'shape' });

    // Act
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: body,
        MessageAttributes: { dataset: { DataType: 'String', StringValue: 'sales' } },
      }),
    );
    const [attempt] = await settled(queue, 1);

    // Assess
    expect(attempt.record).toMatchObject({
      messageId: attempt.messageId,
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: region,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d+$/) },
      messageAttributes: { dataset: { stringValue: 'sales', dataType: 'String', stringListValues: [], binaryListValues: [] } },
    });
    expect(attempt.functionName).toBe(functionName);
    expect(attempt.env).toMatchObject({
      DATABASE_SCHEMA: schema,
      PARTITION_QUEUE_URL: queue.url,
      AWS_ENDPOINT_URL: endpoint,
      AWS_LAMBDA_FUNCTION_NAME: functionName,
    });
    // Only the function's environment: nothing leaks in from the test process.
    expect(attempt.env.HOME).toBeUndefined();
  });

  it('redelivers only the records reported in batchItemFailures and deletes the rest', async () => {
    // Prepare
    const sent = [...scripts(4), ...scripts(2, { outcome: 'fail', untilReceive: 2 }, 'f')];
    const { queue, service } = await startHarness({
      settings: { batchSize: 10, maxConcurrency: 1 },
      before: (q) => sendScripts(sqs, q.url, sent),
    });

    // Act
    const attempts = await settled(queue, sent.length + 2);

    // Assess
    expect(countByKey(attempts)).toEqual({ m0: 1, m1: 1, m2: 1, m3: 1, f0: 2, f1: 2 });
    expect(attempts.filter((a) => a.key.startsWith('f')).map((a) => a.receiveCount).sort()).toEqual([1, 1, 2, 2]);
    expect(await queueDepth(sqs, queue.deadLetter.url)).toBe(0);
    expect(Object.values(service.stats)[0]).toMatchObject({ succeededRecords: 6, failedRecords: 2, failedInvocations: 0 });
  });

  it.each([
    ['throws', 'throw'],
    ['returns an invalid batch response', 'invalid'],
  ] as const)('redelivers the whole batch when the handler %s', async (_, outcome) => {
    // Prepare
    const sent = [...scripts(3), { key: 'x', outcome, untilReceive: 2 }];
    const { queue } = await startHarness({
      settings: { batchSize: 10, maxConcurrency: 1 },
      before: (q) => sendScripts(sqs, q.url, sent),
    });

    // Act
    await waitFor(async () => (await readAttempts(sql, schema)).some((a) => a.key === 'x' && a.receiveCount === 2), 60_000);
    const attempts = await settled(queue, 0);

    // Assess
    const firstBatch = attempts.find((a) => a.key === 'x' && a.receiveCount === 1)!.requestId;
    const batchKeys = attempts.filter((a) => a.requestId === firstBatch).map((a) => a.key);
    const counts = countByKey(attempts);
    for (const s of sent) expect(counts[s.key]).toBe(batchKeys.includes(s.key) ? 2 : 1);
  });

  it('never runs more invocations at once than maxConcurrency', async () => {
    // Prepare
    const sent = scripts(12, { sleepMs: 400 });
    const { queue, service } = await startHarness({ settings: { batchSize: 1, maxConcurrency: 3 } });

    // Act
    await sendScripts(sqs, queue.url, sent);
    const attempts = await settled(queue, sent.length);

    // Assess
    expect(maxOverlap(attempts)).toBe(3);
    expect(Object.values(service.stats)[0].maxInFlight).toBe(3);
    // Warm workers are reused: never more threads than concurrent invocations.
    expect(new Set(attempts.map((a) => a.threadId)).size).toBeLessThanOrEqual(3);
  });

  it('runs at most maxConcurrentInvocations at once when the mapping allows more (the machine\'s cores)', async () => {
    // Prepare
    const sent = scripts(8, { sleepMs: 400 });
    const { queue, service } = await startHarness({ settings: { batchSize: 1, maxConcurrency: 4 }, maxConcurrentInvocations: 2 });

    // Act
    await sendScripts(sqs, queue.url, sent);
    const attempts = await settled(queue, sent.length);

    // Assess: every message handled once, two at a time, the mapping's setting unchanged.
    expect(Object.values(countByKey(attempts))).toEqual(sent.map(() => 1));
    expect(maxOverlap(attempts)).toBe(2);
    expect(Object.values(service.stats)[0]).toMatchObject({ maxInFlight: 2, settings: { maxConcurrency: 4 } });
  });

  it('applies changed mapping settings while running', async () => {
    // Prepare
    let settings: MappingSettings = { batchSize: 1, maxConcurrency: 1 };
    const { queue, service } = await startHarness({ settings: () => settings });
    await sendScripts(sqs, queue.url, scripts(4, { sleepMs: 300 }, 'before'));
    const before = await settled(queue, 4);

    // Act
    settings = { batchSize: 1, maxConcurrency: 3 };
    await waitFor(async () => Object.values(service.stats)[0].settings.maxConcurrency === 3, 10_000);
    await sendScripts(sqs, queue.url, scripts(9, { sleepMs: 400 }, 'after'));
    const after = (await settled(queue, 13)).filter((a) => a.key.startsWith('after'));

    // Assess
    expect(maxOverlap(before)).toBe(1);
    expect(maxOverlap(after)).toBe(3);
  });

  it('follows the event source mapping at the endpoint: a changed MaximumConcurrency applies within seconds', async () => {
    // Prepare
    const { queue, service, provisioned } = await startHarness({
      settings: 'endpoint',
      queue: { visibilityTimeoutSeconds: 60 },
      // AWS's smallest MaximumConcurrency is 2.
      before: (_, p) =>
        lambda
          .send(new UpdateEventSourceMappingCommand({ UUID: p.functions.processor.mappingUuid, BatchSize: 1, ScalingConfig: { MaximumConcurrency: 2 } }))
          .then(() => {}),
    });
    // Long enough sleeps that the runtime fills every slot even on a loaded machine.
    await sendScripts(sqs, queue.url, scripts(6, { sleepMs: 1_000 }, 'before'));
    const before = await settled(queue, 6);

    // Act
    const changedAt = Date.now();
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: provisioned.functions.processor.mappingUuid, ScalingConfig: { MaximumConcurrency: 4 } }));
    await waitFor(async () => Object.values(service.stats)[0].settings.maxConcurrency === 4, 10_000, 'the new MaximumConcurrency');
    const appliedAfterMs = Date.now() - changedAt;
    await sendScripts(sqs, queue.url, scripts(12, { sleepMs: 1_500 }, 'after'));
    const after = (await settled(queue, 18)).filter((a) => a.key.startsWith('after'));

    // Assess
    expect(maxOverlap(before)).toBe(2);
    expect(maxOverlap(after)).toBe(4);
    expect(appliedAfterMs).toBeLessThan(5_000);
    expect(Object.values(service.stats)[0].settings).toEqual({ batchSize: 1, maxConcurrency: 4 });
  });

  it('publishes the AWS-side metrics it plays and the functions\' EMF metrics, as GetMetricData returns them', async () => {
    // Prepare
    const cloudWatch = createCloudWatchClient({ endpoint, region });
    const sent = 9;
    let settings: MappingSettings = { batchSize: 1, maxConcurrency: 0 };
    const startedAt = Date.now();
    // Timer publications off: the test publishes at the moments it wants measured.
    // A visibility timeout well past a cold start on a loaded machine: no message is seen twice.
    const { queue, service, functionName } = await startHarness({
      settings: () => settings,
      entry: emf,
      metricsIntervalMs: 3_600_000,
      queue: { visibilityTimeoutSeconds: 60 },
    });
    const stats = () => Object.values(service.stats)[0];
    await sendScripts(sqs, queue.url, scripts(sent, { sleepMs: 400 }));
    const sentAt = Date.now();
    await service.flushMetrics();

    // Act
    settings = { batchSize: 1, maxConcurrency: 3 };
    await waitFor(async () => stats().inFlight === 3, 10_000, 'three invocations in flight');
    const busyAt = Date.now();
    await service.flushMetrics();
    // Done once the last invocation has also deleted its message and left the in-flight set (its
    // record counts as succeeded before the delete).
    await waitFor(async () => stats().succeededRecords === sent && stats().inFlight === 0 && (await queueDepth(sqs, queue.url)) === 0, 60_000, 'every message processed');
    await service.flushMetrics();
    const observation = await readObservation(
      cloudWatch,
      { partitionQueue: queue.name, processor: functionName, splitter: `${functionName}-unused` },
      // One-second periods (moto takes any): each publication above falls in a period of its own.
      { from: startedAt, to: Date.now() + 1_000, periodSeconds: 1 },
    );
    cloudWatch.destroy();

    // Assess
    const sum = (s: { values: readonly number[] }) => s.values.reduce((a, b) => a + b, 0);
    const max = (s: { values: readonly number[] }) => Math.max(...s.values);
    const { series } = observation;
    expect(sum(series.invocations)).toBe(sent);
    expect(sum(series.errors)).toBe(0);
    expect(sum(series.throttles)).toBe(0);
    expect(max(series.concurrency)).toBe(3);
    expect(Math.min(...series.durationMs.values)).toBeGreaterThanOrEqual(400);
    // Before the function could run, all of them were waiting; at the end, none.
    expect(max(series.queueDepth)).toBe(sent);
    expect(series.queueDepth.values.at(-1)).toBe(0);
    // While busy, the oldest message in flight was sent before `sentAt`.
    expect(max(series.oldestMessageAgeSeconds)).toBeGreaterThanOrEqual((busyAt - sentAt) / 1000);
    expect(series.oldestMessageAgeSeconds.values.at(-1)).toBe(0);
    // EMF printed by the function (Powertools, dimension service = the function's name).
    expect(sum(series.rowsMerged)).toBe(sent);
  });

  it('moves a message that always fails to the DLQ after maxReceiveCount', async () => {
    // Prepare
    const { queue } = await startHarness({
      settings: { batchSize: 1, maxConcurrency: 1 },
      queue: { visibilityTimeoutSeconds: 1, maxReceiveCount: 3 },
    });

    // Act
    await sendScripts(sqs, queue.url, [{ key: 'doomed', outcome: 'fail' }]);
    await waitFor(async () => (await queueDepth(sqs, queue.deadLetter.url)) === 1, 60_000, 'a message in the DLQ');

    // Assess
    const attempts = await readAttempts(sql, schema);
    expect(attempts.map((a) => a.receiveCount)).toEqual([1, 2, 3]);
    expect(await queueDepth(sqs, queue.url)).toBe(0);
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.deadLetter.url }));
    expect(JSON.parse(Messages![0].Body!)).toEqual({ key: 'doomed', outcome: 'fail' });
  });

  it('keeps running after a handler crashes its worker, on a fresh worker', async () => {
    // Prepare
    const sent = [{ key: 'crash', outcome: 'crash', untilReceive: 2 } as const, ...scripts(4)];
    const { queue, service } = await startHarness({
      settings: { batchSize: 1, maxConcurrency: 2 },
      before: (q) => sendScripts(sqs, q.url, sent),
    });

    // Act
    const attempts = await settled(queue, sent.length + 1);
    await sendScripts(sqs, queue.url, scripts(1, {}, 'later'));
    const later = await settled(queue, sent.length + 2);

    // Assess
    expect(countByKey(attempts)).toEqual({ crash: 2, m0: 1, m1: 1, m2: 1, m3: 1 });
    expect(countByKey(later).later0).toBe(1);
    expect(Object.values(service.stats)[0]).toMatchObject({ failedInvocations: 1, succeededRecords: 6 });
  });

  it('killBusyWorker kills a worker mid-invocation: the invocation fails and its message returns after the visibility timeout', async () => {
    // Prepare
    const { queue, service, functionName } = await startHarness({ settings: { batchSize: 1, maxConcurrency: 1 } });
    const idleKill = service.killBusyWorker(functionName);

    // Act
    // The fixture records an attempt after its sleep: a killed attempt leaves no row. A worker in
    // its cold start is not inside an invocation yet (on a loaded machine that takes seconds).
    await sendScripts(sqs, queue.url, [{ key: 'victim', sleepMs: 3000 }]);
    const busyKill = await waitFor(async () => service.killBusyWorker(functionName), 30_000, 'a busy worker');
    const attempts = await settled(queue, 1);

    // Assess
    expect([idleKill, busyKill]).toEqual([false, true]);
    expect(attempts.map((a) => [a.key, a.receiveCount])).toEqual([['victim', 2]]);
    expect(service.stats[functionName]).toMatchObject({ failedInvocations: 1, succeededRecords: 1, coldStarts: 2 });
  });

  it('stops an invocation at the function timeout and retries it on a fresh worker', async () => {
    // Prepare
    const { queue, service } = await startHarness({ settings: { batchSize: 1, maxConcurrency: 1 }, timeoutSeconds: 1 });

    // Act
    await sendScripts(sqs, queue.url, [{ key: 'slow', outcome: 'hang', untilReceive: 2 }]);
    const attempts = await settled(queue, 2);

    // Assess
    expect(attempts.map((a) => a.receiveCount)).toEqual([1, 2]);
    expect(attempts[0].threadId).not.toBe(attempts[1].threadId);
    expect(Object.values(service.stats)[0]).toMatchObject({ failedInvocations: 1, succeededRecords: 1, coldStarts: 2 });
  });

  it('fails the invocations of a module that cannot load and leaves their messages queued', async () => {
    // Prepare
    const { queue, service } = await startHarness({ settings: { batchSize: 1, maxConcurrency: 1 }, entry: broken });

    // Act
    await sendScripts(sqs, queue.url, [{ key: 'orphan' }]);
    await waitFor(async () => Object.values(service.stats)[0].failedInvocations >= 1, 30_000);

    // Assess
    expect(Object.values(service.stats)[0].succeededRecords).toBe(0);
    expect(await queueDepth(sqs, queue.url)).toBe(1);
  });
});
