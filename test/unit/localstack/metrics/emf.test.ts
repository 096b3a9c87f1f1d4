import { Metrics, MetricResolution, MetricUnit } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { emfToMetricData } from '../../../../localstack/metrics/emf.ts';

const at = 1_700_000_000_000;

/** An EMF line with one directive; `root` adds or overrides target members. */
function emfLine(directive: Record<string, unknown>, root: Record<string, unknown> = {}, timestamp: unknown = at): string {
  return JSON.stringify({ _aws: { Timestamp: timestamp, CloudWatchMetrics: [directive] }, ...root });
}

describe('emfToMetricData', () => {
  it('turns what Powertools Metrics prints into the datapoints it declared', () => {
    // Prepare
    const metrics = new Metrics({ namespace: 'batchflow', serviceName: 'processor' });
    metrics.setTimestamp(at);
    metrics.addDimension('FunctionName', 'batchflow-dev-processor');
    metrics.addMetric('RowsMerged', MetricUnit.Count, 40);
    metrics.addMetric('RowsMerged', MetricUnit.Count, 2);
    metrics.addMetric('DatabaseTime', MetricUnit.Milliseconds, 12.5, MetricResolution.High);
    const line = JSON.stringify(metrics.serializeMetrics());

    // Act
    const groups = emfToMetricData(line);

    // Assess
    const dimensions = [
      { Name: 'service', Value: 'processor' },
      { Name: 'FunctionName', Value: 'batchflow-dev-processor' },
    ];
    expect(groups).toEqual([
      {
        namespace: 'batchflow',
        data: [
          { MetricName: 'RowsMerged', Timestamp: new Date(at), Dimensions: dimensions, Values: [40, 2], Unit: 'Count' },
          { MetricName: 'DatabaseTime', Timestamp: new Date(at), Dimensions: dimensions, Value: 12.5, Unit: 'Milliseconds', StorageResolution: 1 },
        ],
      },
    ]);
  });

  it('publishes one metric per dimension set, an empty set without dimensions', () => {
    // Prepare
    const line = emfLine(
      { Namespace: 'ns', Dimensions: [['FunctionName'], ['FunctionName', 'stage'], []], Metrics: [{ Name: 'Invocations' }] },
      { FunctionName: 'f', stage: 'dev', Invocations: 3 },
    );

    // Act
    const [group] = emfToMetricData(line);

    // Assess
    expect(group.data.map((d) => d.Dimensions)).toEqual([
      [{ Name: 'FunctionName', Value: 'f' }],
      [
        { Name: 'FunctionName', Value: 'f' },
        { Name: 'stage', Value: 'dev' },
      ],
      undefined,
    ]);
    expect(group.data.every((d) => d.Value === 3 && d.Unit === undefined)).toBe(true);
  });

  it('keeps one group per directive, each with its namespace', () => {
    // Prepare
    const line = JSON.stringify({
      _aws: {
        Timestamp: at,
        CloudWatchMetrics: [
          { Namespace: 'a', Dimensions: [[]], Metrics: [{ Name: 'x', Unit: 'Bytes' }] },
          { Namespace: 'b', Dimensions: [[]], Metrics: [{ Name: 'y', Unit: 'Seconds' }] },
        ],
      },
      x: 1,
      y: 2,
    });

    // Act
    const groups = emfToMetricData(line);

    // Assess
    expect(groups.map((g) => [g.namespace, g.data.map((d) => [d.MetricName, d.Value, d.Unit])])).toEqual([
      ['a', [['x', 1, 'Bytes']]],
      ['b', [['y', 2, 'Seconds']]],
    ]);
  });

  it.each([
    ['plain text', 'START RequestId: 1 Version: $LATEST'],
    ['JSON without _aws', JSON.stringify({ level: 'INFO', message: '_aws' })],
    ['an _aws key in a string', '{"message":"\\"_aws\\" is reserved"}'],
    ['truncated JSON', emfLine({ Namespace: 'ns', Dimensions: [[]], Metrics: [{ Name: 'x' }] }, { x: 1 }).slice(0, -3)],
    ['no Timestamp', JSON.stringify({ _aws: { CloudWatchMetrics: [{ Namespace: 'ns', Dimensions: [[]], Metrics: [{ Name: 'x' }] }] }, x: 1 })],
    ['a string Timestamp', emfLine({ Namespace: 'ns', Dimensions: [[]], Metrics: [{ Name: 'x' }] }, { x: 1 }, '2024-01-01')],
    ['a JSON array', `[${emfLine({ Namespace: 'ns', Dimensions: [[]], Metrics: [{ Name: 'x' }] }, { x: 1 })}]`],
  ])('yields nothing for %s', (_, line) => {
    // Act
    const groups = emfToMetricData(line);

    // Assess
    expect(groups).toEqual([]);
  });

  it('drops what CloudWatch would not extract and keeps the rest', () => {
    // Prepare
    const line = emfLine(
      {
        Namespace: 'ns',
        Dimensions: [['FunctionName'], ['missing'], ['count'], [7]],
        Metrics: [
          { Name: 'ok', Unit: 'Count' },
          { Name: 'text' },
          { Name: 'absent' },
          { Name: 'mixed' },
          { Name: 'empty' },
          { Name: 'tooMany' },
          { Name: 'oddUnit', Unit: 'Furlongs' },
        ],
      },
      {
        FunctionName: 'f',
        count: 3,
        ok: 1,
        text: '1',
        mixed: [1, '2'],
        empty: [],
        tooMany: Array.from({ length: 101 }, (_, i) => i),
        oddUnit: 5,
      },
    );

    // Act
    const [group] = emfToMetricData(line);

    // Assess
    expect(group.data).toEqual([
      { MetricName: 'ok', Timestamp: new Date(at), Dimensions: [{ Name: 'FunctionName', Value: 'f' }], Value: 1, Unit: 'Count' },
      { MetricName: 'oddUnit', Timestamp: new Date(at), Dimensions: [{ Name: 'FunctionName', Value: 'f' }], Value: 5 },
    ]);
  });

  it('skips a directive without a namespace and keeps the valid ones', () => {
    // Prepare
    const line = JSON.stringify({
      _aws: {
        Timestamp: at,
        CloudWatchMetrics: [
          { Dimensions: [[]], Metrics: [{ Name: 'x' }] },
          { Namespace: 'ns', Dimensions: [[]], Metrics: [{ Name: 'x' }] },
          { Namespace: 'ns', Metrics: [{ Name: 'x' }] },
        ],
      },
      x: 9,
    });

    // Act
    const groups = emfToMetricData(line);

    // Assess
    expect(groups).toEqual([{ namespace: 'ns', data: [{ MetricName: 'x', Timestamp: new Date(at), Value: 9 }] }]);
  });
});
