import { describe, expect, it } from 'vitest';
import { signals } from '../../../../lib/tune/signals.ts';
import { lambdaMetricData, queueMetricData } from '../../../../localstack/metrics/awsMetrics.ts';

const at = new Date(1_700_000_000_000);

describe('lambdaMetricData', () => {
  it('publishes nothing for a function that did not run', () => {
    // Act
    const groups = lambdaMetricData('f', { invocations: 0, errors: 0, durationsMs: [], maxInFlight: 0 }, at);

    // Assess
    expect(groups).toEqual([]);
  });

  it('publishes what the function did under the names, units and dimension the catalogue reads', () => {
    // Prepare
    const activity = { invocations: 3, errors: 1, durationsMs: [120, 80, 400], maxInFlight: 2 };

    // Act
    const [group] = lambdaMetricData('batchflow-dev-processor', activity, at);

    // Assess
    expect(group.namespace).toBe(signals.invocations.namespace);
    const byName = Object.fromEntries(group.data.map((d) => [d.MetricName, d]));
    const expected = [
      [signals.invocations, { Value: 3 }],
      [signals.errors, { Value: 1 }],
      [signals.throttles, { Value: 0 }],
      [signals.concurrency, { Value: 2 }],
      [signals.durationMs, { Values: [120, 80, 400] }],
    ] as const;
    expect(group.data).toHaveLength(expected.length);
    for (const [spec, value] of expected) {
      expect(byName[spec.metricName]).toEqual({
        MetricName: spec.metricName,
        Dimensions: [{ Name: spec.dimension, Value: 'batchflow-dev-processor' }],
        Timestamp: at,
        Unit: spec.unit,
        ...value,
      });
    }
  });

  it('publishes the concurrency of a function still busy with invocations that have not ended', () => {
    // Act
    const [group] = lambdaMetricData('f', { invocations: 0, errors: 0, durationsMs: [], maxInFlight: 4 }, at);

    // Assess
    expect(group.data.map((d) => [d.MetricName, d.Value])).toEqual([
      ['Invocations', 0],
      ['Errors', 0],
      ['Throttles', 0],
      ['ConcurrentExecutions', 4],
    ]);
  });
});

describe('queueMetricData', () => {
  const ageOf = (reading: Parameters<typeof queueMetricData>[1]) =>
    queueMetricData('q', reading, at)[0].data.find((d) => d.MetricName === signals.oldestMessageAgeSeconds.metricName)?.Value;

  it('publishes the visible messages under the queue name', () => {
    // Act
    const [group] = queueMetricData('batchflow-dev-partition-queue', { visible: 7, notVisible: 2 }, at);

    // Assess
    expect(group.namespace).toBe(signals.queueDepth.namespace);
    expect(group.data[0]).toEqual({
      MetricName: signals.queueDepth.metricName,
      Dimensions: [{ Name: signals.queueDepth.dimension, Value: 'batchflow-dev-partition-queue' }],
      Timestamp: at,
      Unit: signals.queueDepth.unit,
      Value: 7,
    });
  });

  it.each([
    ['the age of the oldest message in flight', { visible: 5, notVisible: 3, oldestSentMs: at.getTime() - 42_500 }, 42.5],
    ['0 for an empty queue', { visible: 0, notVisible: 0 }, 0],
    ['no age when messages wait and none is in flight', { visible: 5, notVisible: 0 }, undefined],
    ['no age when failed messages wait out their visibility timeout', { visible: 0, notVisible: 2 }, undefined],
  ])('publishes %s', (_, reading, expected) => {
    // Act
    const age = ageOf(reading);

    // Assess
    expect(age).toBe(expected);
  });
});
