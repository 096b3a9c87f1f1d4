/**
 * Mergeable moments of a metric: count, sum, min, max, mean and M2 (the sum of squared
 * deviations from the mean). Two summaries of disjoint sets merge exactly into the summary of
 * their union, which is how partitions, buckets and rollups combine.
 *
 * There is no sum of squares on purpose: variance as (Σx² − (Σx)²/n)/(n−1) cancels
 * catastrophically once the mean dwarfs the spread (1e9 + noise loses every digit). Welford's
 * update and Chan et al.'s merge keep the deviation from the running mean instead.
 *
 * The tests' reference implementation (oracle): lib/rollup/aggregator.ts inlines the same update
 * into its cell buffer and Postgres merges rollups with the same formula (lib/store/rollups.ts),
 * while this plain version is checked against a two-pass computation (moments.test.ts).
 *
 * The accumulator is a plain array of doubles holding several metrics side by side, six per
 * metric in a fixed order, so a test can build one from a cell's fields.
 *
 * @example
 * const acc = createMoments(2);       // two metrics
 * addToMoments(acc, 0, 3);
 * addToMoments(acc, 0, 5);
 * variance(readMoments(acc, 0));      // → 2
 */

/** The moments of a set of numbers; min and max are null while count is 0. */
export interface Moments {
  /** How many values were added (missing values are not added). */
  readonly count: number;
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number;
  /** Σ (x − mean)². */
  readonly m2: number;
}

/** Moments of one or more metrics, six doubles per metric: count, sum, min, max, mean, m2. */
export type MomentsAccumulator = number[];

const FIELDS = 6;
const COUNT = 0;
const SUM = 1;
const MIN = 2;
const MAX = 3;
const MEAN = 4;
const M2 = 5;

/** Creates an accumulator for `metricCount` metrics, each with no values yet. */
export function createMoments(metricCount = 1): MomentsAccumulator {
  const acc: number[] = [];
  // ±Infinity as the empty min and max: the first value replaces both without a branch on count.
  for (let m = 0; m < metricCount; m++) acc.push(0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, 0);
  return acc;
}

/** Adds one finite value to metric `metric` (Welford, 1962); the caller skips missing values. */
export function addToMoments(acc: MomentsAccumulator, metric: number, x: number): void {
  const at = metric * FIELDS;
  const n = acc[at + COUNT] + 1;
  const delta = x - acc[at + MEAN];
  const mean = acc[at + MEAN] + delta / n;
  acc[at + COUNT] = n;
  acc[at + SUM] += x;
  acc[at + MEAN] = mean;
  acc[at + M2] += delta * (x - mean);
  if (x < acc[at + MIN]) acc[at + MIN] = x;
  if (x > acc[at + MAX]) acc[at + MAX] = x;
}

/**
 * Merges metric `fromMetric` of `from`, the moments of a disjoint set, into metric `metric` of
 * `acc` (Chan, Golub & LeVeque, 1979).
 */
export function mergeMoments(acc: MomentsAccumulator, metric: number, from: MomentsAccumulator, fromMetric: number): void {
  const at = metric * FIELDS;
  const src = fromMetric * FIELDS;
  const nB = from[src + COUNT];
  if (nB === 0) return;
  const nA = acc[at + COUNT];
  if (nA === 0) {
    // Copied rather than computed: (δ·nB)/nB need not round back to δ.
    for (let f = 0; f < FIELDS; f++) acc[at + f] = from[src + f];
    return;
  }
  const n = nA + nB;
  const delta = from[src + MEAN] - acc[at + MEAN];
  acc[at + COUNT] = n;
  acc[at + SUM] += from[src + SUM];
  acc[at + MEAN] += (delta * nB) / n;
  acc[at + M2] += from[src + M2] + ((delta * delta * nA) / n) * nB;
  if (from[src + MIN] < acc[at + MIN]) acc[at + MIN] = from[src + MIN];
  if (from[src + MAX] > acc[at + MAX]) acc[at + MAX] = from[src + MAX];
}

/** Reads metric `metric` of an accumulator. */
export function readMoments(acc: MomentsAccumulator, metric: number): Moments {
  const at = metric * FIELDS;
  const count = acc[at + COUNT];
  return {
    count,
    sum: acc[at + SUM],
    min: count === 0 ? null : acc[at + MIN],
    max: count === 0 ? null : acc[at + MAX],
    mean: acc[at + MEAN],
    m2: acc[at + M2],
  };
}

/** The sample variance M2/(n−1), as Postgres `variance()`; null below two values. */
export function variance(m: Moments): number | null {
  return m.count < 2 ? null : m.m2 / (m.count - 1);
}

/** The sample standard deviation, as Postgres `stddev()`; null below two values. */
export function stddev(m: Moments): number | null {
  const v = variance(m);
  return v === null ? null : Math.sqrt(v);
}
