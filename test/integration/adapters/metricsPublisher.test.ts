import { randomBytes } from 'node:crypto';
import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createCloudWatchClient } from '../../../lib/adapters/aws.ts';
import { publishMetrics } from '../../../lib/adapters/metricsPublisher.ts';
import { readObservation } from '../../../lib/adapters/metricsReader.ts';
import { signals } from '../../../lib/tune/signals.ts';

const cloudWatch = createCloudWatchClient({ endpoint: inject('awsEndpoint'), region: inject('awsRegion') });
const unique = randomBytes(3).toString('hex');
const PERIOD_MS = 60_000;

afterAll(() => cloudWatch.destroy());

describe('publishMetrics', () => {
  it('publishes more datums and values than one PutMetricData call takes, in every namespace given', async () => {
    // Prepare
    const processor = `batchflow-pub-${unique}-processor`;
    const resources = { partitionQueue: `batchflow-pub-${unique}-partition-queue`, processor, splitter: `batchflow-pub-${unique}-splitter` };
    const from = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS - 90 * PERIOD_MS;
    const dimensions = [{ Name: 'FunctionName', Value: processor }];
    // 2,500 datums over two periods (three calls of at most 1,000) and one datum of 400 values (three of 150).
    const invocations: MetricDatum[] = Array.from({ length: 2500 }, (_, i) => ({
      MetricName: 'Invocations',
      Dimensions: dimensions,
      Timestamp: new Date(from + (i % 2) * PERIOD_MS + (i % 50) * 1000),
      Unit: 'Count',
      Value: 1 + (i % 3),
    }));
    const durations = Array.from({ length: 400 }, (_, i) => 10 + i);
    const rows: MetricDatum = {
      MetricName: 'RowsMerged',
      Dimensions: [{ Name: signals.rowsMerged.dimension, Value: processor }],
      Timestamp: new Date(from),
      Unit: 'Count',
      Value: 77,
    };

    // Act
    await publishMetrics(cloudWatch, [
      { namespace: 'AWS/Lambda', data: invocations.slice(0, 1200) },
      { namespace: 'batchflow', data: [rows] },
      { namespace: 'AWS/Lambda', data: [...invocations.slice(1200), { MetricName: 'Duration', Dimensions: dimensions, Timestamp: new Date(from), Unit: 'Milliseconds', Values: durations }] },
    ]);
    const observation = await readObservation(cloudWatch, resources, { from, to: from + 2 * PERIOD_MS, periodSeconds: 60 });

    // Assess
    const sumOfPeriod = (p: number) => invocations.filter((_, i) => i % 2 === p).reduce((s, d) => s + d.Value!, 0);
    expect(observation.series.invocations).toEqual({ timestamps: [from, from + PERIOD_MS], values: [sumOfPeriod(0), sumOfPeriod(1)] });
    expect(observation.series.durationMs.values).toEqual([durations.reduce((a, b) => a + b, 0) / durations.length]);
    expect(observation.series.rowsMerged.values).toEqual([77]);
  });
});
