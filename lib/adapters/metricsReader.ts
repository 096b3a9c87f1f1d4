import { GetMetricDataCommand, type CloudWatchClient, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { signals, type Observation, type SignalName, type SignalSeries, type SignalSource } from '../tune/signals.ts';

/** The physical names the signals' dimensions carry: the partition queue's and the functions'. */
export type SignalResourceNames = Readonly<Record<SignalSource, string>>;

/** The observed window, epoch milliseconds, cut into periods of `periodSeconds`. */
export interface ObservationWindow {
  readonly from: number;
  readonly to: number;
  /** 60 or a multiple for AWS's standard-resolution metrics; 1, 5, 10, 30 also for high-resolution ones. */
  readonly periodSeconds: number;
}

// GetMetricData takes at most 500 queries per call.
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
const QUERIES_PER_CALL = 500;

/**
 * Reads every signal of the catalogue over one window with GetMetricData: one query per signal
 * (its namespace, metric, resource dimension and statistic), paginated. The window is widened to
 * whole periods (`from` down, `to` up) so AWS and moto cut the same periods, and the returned
 * observation carries that widened window; a `to` inside a period makes the last period partial.
 * Periods without data are absent from a series, as CloudWatch returns them.
 *
 * @example
 * const observation = await readObservation(cloudWatch, { partitionQueue, processor, splitter },
 *   { from: Date.now() - 15 * 60_000, to: Date.now(), periodSeconds: 60 });
 */
export async function readObservation(
  client: CloudWatchClient,
  names: SignalResourceNames,
  window: ObservationWindow,
): Promise<Observation> {
  const { periodSeconds } = window;
  if (!Number.isInteger(periodSeconds) || periodSeconds < 1) throw new RangeError(`invalid periodSeconds ${periodSeconds}`);
  const periodMs = periodSeconds * 1000;
  const from = Math.floor(window.from / periodMs) * periodMs;
  const to = Math.max(Math.ceil(window.to / periodMs) * periodMs, from + periodMs);

  const queries = signalQueries(names, periodSeconds);
  const points = new Map<string, [number, number][]>(queries.map((q) => [q.Id!, []]));
  for (let i = 0; i < queries.length; i += QUERIES_PER_CALL) {
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries.slice(i, i + QUERIES_PER_CALL),
          StartTime: new Date(from),
          EndTime: new Date(to),
          ScanBy: 'TimestampAscending',
          NextToken: nextToken,
        }),
      );
      for (const result of page.MetricDataResults ?? []) {
        const series = points.get(result.Id ?? '');
        if (!series) continue;
        const timestamps = result.Timestamps ?? [];
        const values = result.Values ?? [];
        for (let j = 0; j < Math.min(timestamps.length, values.length); j++) series.push([timestamps[j].getTime(), values[j]]);
      }
      nextToken = page.NextToken;
    } while (nextToken);
  }

  const series = {} as Record<SignalName, SignalSeries>;
  for (const [name, pairs] of points) {
    pairs.sort((a, b) => a[0] - b[0]);
    series[name as SignalName] = { timestamps: pairs.map((p) => p[0]), values: pairs.map((p) => p[1]) };
  }
  return { from, to, periodSeconds, series };
}

/**
 * One MetricStat query per signal, its Id the signal's name (a valid query id: lowercase first).
 * No Unit: in a query it filters, and a datapoint published with another unit would vanish.
 */
export function signalQueries(names: SignalResourceNames, periodSeconds: number): MetricDataQuery[] {
  return Object.entries(signals).map(([name, spec]) => ({
    Id: name,
    MetricStat: {
      Metric: {
        Namespace: spec.namespace,
        MetricName: spec.metricName,
        Dimensions: [{ Name: spec.dimension, Value: names[spec.source] }],
      },
      Period: periodSeconds,
      Stat: spec.stat,
    },
    ReturnData: true,
  }));
}
