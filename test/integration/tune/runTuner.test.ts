import { randomBytes } from 'node:crypto';
import { PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { GetEventSourceMappingCommand, GetFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCloudWatchClient, createLambdaClient } from '../../../lib/adapters/aws.ts';
import { readObservation } from '../../../lib/adapters/metricsReader.ts';
import { createProcessorSettings } from '../../../lib/adapters/processorSettings.ts';
import { connectDb } from '../../../lib/store/db.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { listTuningHistory } from '../../../lib/store/performance.ts';
import { topology } from '../../../lib/topology.ts';
import { runTuner, type TunerContext } from '../../../lib/tune/runTuner.ts';
import { METRICS_NAMESPACE } from '../../../lib/tune/signals.ts';
import { provision, type Provisioned } from '../../../localstack/services/provision.ts';

const clientOptions = { endpoint: inject('awsEndpoint'), region: inject('awsRegion') };
const cloudWatch = createCloudWatchClient(clientOptions);
const lambda = createLambdaClient(clientOptions);
const stage = `it-tuner-${randomBytes(3).toString('hex')}`;
const schema = `it_tuner_${randomBytes(3).toString('hex')}`;
const db = connectDb({ url: inject('databaseUrl'), schema, max: 2 });
const MINUTE = 60_000;
/** Whole minutes, so the published periods are the ones the tuner reads. */
const NOW = Math.floor(Date.now() / MINUTE) * MINUTE;
const WINDOW_MINUTES = 15;
let stack: Provisioned;
let ctx: TunerContext;

/**
 * A backlog the processors do not keep up with: the partition queue and its oldest message grow
 * every minute, while the processors run without errors, throttles or lock waits.
 */
async function publishGrowingBacklog(functionName: string, queueName: string): Promise<void> {
  const data = (minute: number): MetricDatum[] => {
    const Timestamp = new Date(NOW - (WINDOW_MINUTES - minute) * MINUTE + 1000);
    const fn = [{ Name: 'FunctionName', Value: functionName }];
    const service = [{ Name: 'service', Value: functionName }];
    const queue = [{ Name: 'QueueName', Value: queueName }];
    return [
      { MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: queue, Timestamp, Value: 20 * (minute + 1), Unit: 'Count' },
      { MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: queue, Timestamp, Value: 30 * (minute + 1), Unit: 'Seconds' },
      { MetricName: 'Invocations', Dimensions: fn, Timestamp, Value: 12, Unit: 'Count' },
      { MetricName: 'Errors', Dimensions: fn, Timestamp, Value: 0, Unit: 'Count' },
      { MetricName: 'Throttles', Dimensions: fn, Timestamp, Value: 0, Unit: 'Count' },
      { MetricName: 'Duration', Dimensions: fn, Timestamp, Value: 20_000, Unit: 'Milliseconds' },
      { MetricName: 'ConcurrentExecutions', Dimensions: fn, Timestamp, Value: 8, Unit: 'Count' },
      { MetricName: 'RecordsProcessed', Dimensions: service, Timestamp, Value: 12 * 180_000, Unit: 'Count' },
      { MetricName: 'BytesRead', Dimensions: service, Timestamp, Value: 12 * 8 * 1024 * 1024, Unit: 'Bytes' },
      { MetricName: 'PartitionDuration', Dimensions: service, Timestamp, Value: 20_000, Unit: 'Milliseconds' },
      { MetricName: 'DatabaseTime', Dimensions: service, Timestamp, Value: 2_000, Unit: 'Milliseconds' },
      { MetricName: 'LockWaitTime', Dimensions: service, Timestamp, Value: 1, Unit: 'Milliseconds' },
    ];
  };
  for (let minute = 0; minute < WINDOW_MINUTES; minute++) {
    const all = data(minute);
    const aws = all.filter((d) => d.Dimensions![0].Name !== 'service');
    const ours = all.filter((d) => d.Dimensions![0].Name === 'service');
    for (const d of aws) {
      const namespace = d.Dimensions![0].Name === 'QueueName' ? 'AWS/SQS' : 'AWS/Lambda';
      await cloudWatch.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: [d] }));
    }
    await cloudWatch.send(new PutMetricDataCommand({ Namespace: METRICS_NAMESPACE, MetricData: ours }));
  }
}

async function mapping(): Promise<{ batchSize: number; maxConcurrency: number; reserved: number | null }> {
  const m = await lambda.send(new GetEventSourceMappingCommand({ UUID: stack.functions.processor.mappingUuid }));
  const c = await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: stack.functions.processor.name }));
  return { batchSize: m.BatchSize!, maxConcurrency: m.ScalingConfig!.MaximumConcurrency!, reserved: c.ReservedConcurrentExecutions ?? null };
}

beforeAll(async () => {
  await migrate(db);
  stack = await provision({ stage, ...clientOptions });
  const processor = stack.functions.processor;
  const partitionQueue = stack.queues.partitions.name;
  await publishGrowingBacklog(processor.name, partitionQueue);
  ctx = {
    db,
    processor: createProcessorSettings(lambda, { functionName: processor.name, queueArn: stack.queues.partitions.arn }),
    observe: (window) => readObservation(cloudWatch, { partitionQueue, processor: processor.name, splitter: stack.functions.splitter.name }, window),
    defaultPartitionBytes: topology.ingest.partitionBytes,
    windowSeconds: WINDOW_MINUTES * 60,
    periodSeconds: 60,
  };
});

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
});

describe('runTuner against the local endpoint and Postgres', () => {
  it('in a dry run recommends more concurrency for a growing backlog and changes nothing', async () => {
    // Prepare
    const before = await mapping();

    // Act
    const run = await runTuner(ctx, { apply: false, now: new Date(NOW) });
    const concurrency = run.recommendations.find((r) => r.parameter === 'maxConcurrency')!;

    // Assess
    expect(concurrency.currentValue).toBe(topology.functions.processor.maxConcurrency);
    expect(concurrency.recommendedValue).toBeGreaterThan(concurrency.currentValue!);
    expect(run.bottlenecks.map((b) => b.kind)).toContain('queueGrowth');
    expect(run.applied).toEqual([]);
    expect(await mapping()).toEqual(before);
    expect(await listTuningHistory(db)).toEqual([]);
  });

  it('applied, sets the mapping and reserved concurrency, records each change, then holds for the cooldown', async () => {
    // Act
    const run = await runTuner(ctx, { apply: true, now: new Date(NOW) });
    const after = await mapping();
    const history = await listTuningHistory(db);
    const again = await runTuner(ctx, { apply: true, now: new Date(NOW + MINUTE) });

    // Assess
    const recommended = Object.fromEntries(run.recommendations.map((r) => [r.parameter, r.recommendedValue]));
    expect(after.maxConcurrency).toBe(recommended.maxConcurrency);
    expect(after.maxConcurrency).toBeGreaterThan(topology.functions.processor.maxConcurrency);
    expect(after.reserved).toBe(recommended.reservedConcurrency);
    expect(after.batchSize).toBe(recommended.batchSize);
    expect(history.map((h) => h.parameter).sort()).toEqual(run.applied.map((r) => r.parameter).sort());
    const change = history.find((h) => h.parameter === 'maxConcurrency')!;
    expect([change.oldValue, change.newValue]).toEqual([topology.functions.processor.maxConcurrency, after.maxConcurrency]);
    expect(JSON.stringify(change.evidence)).toContain('queueGrowth');
    expect(again.applied).toEqual([]);
    expect(await mapping()).toEqual(after);
  });

  it('measures each change once its following window has passed, and only once', async () => {
    // Act
    const later = new Date(NOW + (WINDOW_MINUTES + 1) * MINUTE);
    const run = await runTuner(ctx, { apply: false, now: later });
    const rerun = await runTuner(ctx, { apply: false, now: later });
    const history = await listTuningHistory(db);

    // Assess
    expect(run.measured.map((m) => m.id).sort()).toEqual(history.map((h) => h.id).sort());
    expect(history.every((h) => typeof h.effectiveness === 'number' && h.effectivenessDetail)).toBe(true);
    expect(rerun.measured).toEqual([]);
  });
});
