import { randomBytes } from 'node:crypto';
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createCloudWatchClient } from '../../../lib/adapters/aws.ts';
import { readObservation, type SignalResourceNames } from '../../../lib/adapters/metricsReader.ts';
import { signals, type SignalName } from '../../../lib/tune/signals.ts';

const cloudWatch = createCloudWatchClient({ endpoint: inject('awsEndpoint'), region: inject('awsRegion') });
const unique = randomBytes(3).toString('hex');
const PERIOD_S = 60;
const PERIOD_MS = PERIOD_S * 1000;

afterAll(() => cloudWatch.destroy());

/** Resource names no other test uses, so every datapoint found was put here. */
function names(label: string): SignalResourceNames {
  return {
    partitionQueue: `batchflow-${label}-${unique}-partition-queue`,
    processor: `batchflow-${label}-${unique}-processor`,
    splitter: `batchflow-${label}-${unique}-splitter`,
  };
}

/** A datapoint as put: which signal, when, which values. */
interface Put {
  readonly signal: SignalName;
  readonly at: number;
  readonly values: readonly number[];
}

/** Puts each datapoint with the signal's namespace, metric, dimension and unit, as AWS or the runtime would. */
async function put(resources: SignalResourceNames, points: readonly Put[]): Promise<void> {
  for (const p of points) {
    const spec = signals[p.signal];
    await cloudWatch.send(
      new PutMetricDataCommand({
        Namespace: spec.namespace,
        MetricData: [
          {
            MetricName: spec.metricName,
            Dimensions: [{ Name: spec.dimension, Value: resources[spec.source] }],
            Timestamp: new Date(p.at),
            Unit: spec.unit,
            ...(p.values.length === 1 ? { Value: p.values[0] } : { Values: [...p.values] }),
          },
        ],
      }),
    );
  }
}

/** What a statistic over each period of the put datapoints is, computed here rather than by CloudWatch. */
function expectedSeries(points: readonly Put[], signal: SignalName, from: number, to: number) {
  const byPeriod = new Map<number, number[]>();
  for (const p of points) {
    if (p.signal !== signal || p.at < from || p.at >= to) continue;
    const start = Math.floor(p.at / PERIOD_MS) * PERIOD_MS;
    byPeriod.set(start, [...(byPeriod.get(start) ?? []), ...p.values]);
  }
  const starts = [...byPeriod.keys()].sort((a, b) => a - b);
  const stat = (values: number[]) => {
    switch (signals[signal].stat) {
      case 'Sum':
        return values.reduce((a, b) => a + b, 0);
      case 'Average':
        return values.reduce((a, b) => a + b, 0) / values.length;
      case 'Maximum':
        return Math.max(...values);
    }
  };
  return { timestamps: starts, values: starts.map((s) => stat(byPeriod.get(s)!)) };
}

describe('readObservation', () => {
  it('returns, per signal and period, the statistic of exactly the datapoints put for its resource', async () => {
    // Prepare
    const resources = names('obs');
    const others = names('other');
    // Whole minutes an hour ago: every period is complete and no other test writes there.
    const from = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS - 60 * PERIOD_MS;
    const to = from + 4 * PERIOD_MS;
    const at = (period: number, second: number) => from + period * PERIOD_MS + second * 1000;
    const points: Put[] = [
      { signal: 'queueDepth', at: at(0, 5), values: [40] },
      { signal: 'queueDepth', at: at(0, 35), values: [55] },
      { signal: 'queueDepth', at: at(2, 10), values: [12] },
      { signal: 'oldestMessageAgeSeconds', at: at(1, 0), values: [30.5] },
      { signal: 'invocations', at: at(0, 10), values: [3] },
      { signal: 'invocations', at: at(0, 50), values: [4] },
      { signal: 'invocations', at: at(3, 59), values: [1] },
      { signal: 'durationMs', at: at(0, 10), values: [100, 300, 200] },
      { signal: 'durationMs', at: at(1, 20), values: [50] },
      { signal: 'concurrency', at: at(1, 1), values: [2] },
      { signal: 'concurrency', at: at(1, 2), values: [7] },
      { signal: 'rowsMerged', at: at(2, 30), values: [1000, 2500] },
      { signal: 'lockWaitMs', at: at(3, 0), values: [8, 2] },
      // Outside the window: before and at its end.
      { signal: 'invocations', at: from - 1000, values: [99] },
      { signal: 'invocations', at: to, values: [99] },
    ];
    await put(resources, points);
    // The same metrics for another function and queue must not be read.
    await put(others, [
      { signal: 'invocations', at: at(0, 10), values: [500] },
      { signal: 'queueDepth', at: at(0, 10), values: [500] },
    ]);

    // Act
    const observation = await readObservation(cloudWatch, resources, { from, to, periodSeconds: PERIOD_S });

    // Assess
    expect(observation).toMatchObject({ from, to, periodSeconds: PERIOD_S });
    expect(Object.keys(observation.series).sort()).toEqual(Object.keys(signals).sort());
    for (const signal of Object.keys(signals) as SignalName[]) {
      expect(observation.series[signal], signal).toEqual(expectedSeries(points, signal, from, to));
    }
    expect(observation.series.invocations.values).toEqual([7, 1]);
    expect(observation.series.errors).toEqual({ timestamps: [], values: [] });
  });

  it('widens a window to whole periods', async () => {
    // Prepare
    const resources = names('widen');
    const start = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS - 30 * PERIOD_MS;
    const points: Put[] = [
      { signal: 'errors', at: start + 5_000, values: [1] },
      { signal: 'errors', at: start + PERIOD_MS + 40_000, values: [2] },
    ];
    await put(resources, points);

    // Act
    const observation = await readObservation(cloudWatch, resources, {
      from: start + 20_000,
      to: start + PERIOD_MS + 10_000,
      periodSeconds: PERIOD_S,
    });

    // Assess
    expect(observation.from).toBe(start);
    expect(observation.to).toBe(start + 2 * PERIOD_MS);
    expect(observation.series.errors).toEqual({ timestamps: [start, start + PERIOD_MS], values: [1, 2] });
  });
});
