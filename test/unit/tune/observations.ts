import { signals, type Observation, type SignalName, type SignalSeries } from '../../../lib/tune/signals.ts';

/**
 * Builds Observations from plain arrays, one value per period, so a test reads like the trace it
 * describes. A `null` value is a gap (no datapoint that period); a signal left out has no datapoints.
 */

export const MiB = 1024 * 1024;
/** 2024-01-01T00:00Z, an arbitrary start. */
export const T0 = Date.UTC(2024, 0, 1);
export const PERIOD_SECONDS = 60;

export type Trace = Partial<Record<SignalName, readonly (number | null)[]>>;

/** An Observation of `trace`, its periods starting at `from`, the window as long as the longest series. */
export function observe(trace: Trace, options: { from?: number; periodSeconds?: number; periods?: number } = {}): Observation {
  const from = options.from ?? T0;
  const periodMs = (options.periodSeconds ?? PERIOD_SECONDS) * 1000;
  const longest = Math.max(0, ...Object.values(trace).map((values) => values?.length ?? 0));
  const periods = options.periods ?? longest;
  const series = {} as Record<SignalName, SignalSeries>;
  for (const name of Object.keys(signals) as SignalName[]) {
    const values = trace[name] ?? [];
    const timestamps: number[] = [];
    const kept: number[] = [];
    values.forEach((v, i) => {
      if (v === null) return;
      timestamps.push(from + i * periodMs);
      kept.push(v);
    });
    series[name] = { timestamps, values: kept };
  }
  return { from, to: from + periods * periodMs, periodSeconds: periodMs / 1000, series };
}

/** `value` repeated `n` times. */
export const flat = (n: number, value: number): number[] => Array.from({ length: n }, () => value);

/** `n` values from `first` to `last` in equal steps. */
export const ramp = (n: number, first: number, last: number): number[] => Array.from({ length: n }, (_, i) => first + ((last - first) * i) / Math.max(1, n - 1));

/**
 * Five healthy one-minute periods of a processor with 64 MiB partitions: 30 invocations a period,
 * each reading one partition in 20 s (3.2 MiB/s, so 64 MiB is the 20 s size), a flat queue of 3
 * messages 20 s old, merges of 400 ms with 5 ms of lock waits, no errors or throttles.
 */
export function healthy(n = 5): Record<SignalName, number[]> {
  return {
    queueDepth: flat(n, 3),
    oldestMessageAgeSeconds: flat(n, 20),
    invocations: flat(n, 30),
    errors: flat(n, 0),
    throttles: flat(n, 0),
    durationMs: flat(n, 20_000),
    concurrency: flat(n, 10),
    recordsProcessed: flat(n, 30 * 100_000),
    recordsRejected: flat(n, 0),
    bytesRead: flat(n, 30 * 64 * MiB),
    partitionMs: flat(n, 19_800),
    parseMs: flat(n, 19_000),
    mergeMs: flat(n, 400),
    lockWaitMs: flat(n, 5),
    rowsMerged: flat(n, 30 * 500),
    dbConnectionErrors: flat(n, 0),
  };
}
