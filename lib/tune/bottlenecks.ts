import type { Observation, SignalName } from './signals.ts';

/**
 * Bottleneck detection: reads one Observation and names what limits the pipeline, each finding
 * with the metric, window and values it rests on and a sentence saying what to do. Pure: the
 * window's data comes in, findings go out. Periods are assumed whole (the reader drops the
 * current, still filling period), so the last datapoint is comparable with the earlier ones.
 */

/** The part of the pipeline a finding points at. No splitter signal is catalogued yet. */
export type BottleneckComponent = 'partitionQueue' | 'processor' | 'database' | 'splitter';

/** What was seen. */
export type BottleneckKind =
  | 'queueGrowth'
  | 'ageGrowth'
  | 'latencySpike'
  | 'throughputDrop'
  | 'errorRateSpike'
  | 'databaseSaturation'
  | 'throttles';

/** The data a finding rests on. */
export interface BottleneckEvidence {
  readonly metric: SignalName;
  /** From the first datapoint looked at to the end of the last one's period (epoch ms). */
  readonly window: { readonly from: number; readonly to: number };
  readonly values: readonly number[];
  /** The figure compared with its threshold, in words, e.g. "error rate 8% (20 of 250 invocations) > 5%". */
  readonly summary: string;
}

/** One finding. */
export interface Bottleneck {
  readonly component: BottleneckComponent;
  readonly kind: BottleneckKind;
  readonly evidence: BottleneckEvidence;
  readonly recommendation: string;
}

/** When a pattern counts as a finding. */
export interface BottleneckThresholds {
  /** Datapoints a trend or a spike needs: two points are a line whatever the data. */
  readonly minPeriods: number;
  /** Queue growth: least-squares slope > 0 and last − first ≥ this many messages. */
  readonly queueGrowthMessages: number;
  /** Age growth: slope > 0 and last − first ≥ this many seconds. */
  readonly ageGrowthSeconds: number;
  /** Latency spike: last period > this × the median of the earlier periods. */
  readonly latencySpikeFactor: number;
  /** Throughput drop: last period's records < this × the earlier median, while messages wait. */
  readonly throughputDropFraction: number;
  /** Error rate: errors / invocations over the window above this. */
  readonly errorRate: number;
  /** Lock waits: mean lockWaitMs ≥ this share of mean mergeMs (which includes them)… */
  readonly lockWaitShare: number;
  /** …and ≥ this many ms, so that 2 ms of 5 ms does not count. */
  readonly lockWaitMinMs: number;
  /** Merge share: mean mergeMs ≥ this share of mean partitionMs… */
  readonly mergeShare: number;
  /** …and mergeMs rising: slope > 0 and last ≥ (1 + this) × first. */
  readonly mergeRise: number;
}

/** The thresholds used when none are given. */
export const defaultThresholds: BottleneckThresholds = {
  minPeriods: 3,
  queueGrowthMessages: 10,
  // A queue that keeps up holds messages for seconds; one that does not ages by up to a second per second.
  ageGrowthSeconds: 60,
  latencySpikeFactor: 2,
  throughputDropFraction: 0.5,
  errorRate: 0.05,
  lockWaitShare: 0.3,
  lockWaitMinMs: 100,
  mergeShare: 0.5,
  mergeRise: 0.2,
};

/** Every bottleneck the observation shows; none for missing or empty series. */
export function detectBottlenecks(observation: Observation, thresholds: Partial<BottleneckThresholds> = {}): Bottleneck[] {
  const t = { ...defaultThresholds, ...thresholds };
  const found = [
    queueGrowth(observation, t),
    ageGrowth(observation, t),
    latencySpike(observation, t, 'durationMs'),
    latencySpike(observation, t, 'partitionMs'),
    throughputDrop(observation, t),
    errorRateSpike(observation, t),
    throttles(observation),
    ...databaseSaturation(observation, t),
  ];
  return found.filter((b): b is Bottleneck => b !== undefined);
}

/** One datapoint. */
interface Point {
  readonly t: number;
  readonly v: number;
}

/** A signal's finite datapoints, oldest first; a missing series is empty. */
export function pointsOf(observation: Observation, name: SignalName): Point[] {
  const s = observation.series?.[name];
  if (!s) return [];
  const n = Math.min(s.timestamps.length, s.values.length);
  const points: Point[] = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(s.values[i]) && Number.isFinite(s.timestamps[i])) points.push({ t: s.timestamps[i], v: s.values[i] });
  return points.sort((a, b) => a.t - b.t);
}

/** The sum of a signal over the window (0 without data). */
export function totalOf(observation: Observation, name: SignalName): number {
  return pointsOf(observation, name).reduce((sum, p) => sum + p.v, 0);
}

/** The mean of a signal's datapoints, or undefined without data. */
export function meanOf(observation: Observation, name: SignalName): number | undefined {
  const points = pointsOf(observation, name);
  return points.length === 0 ? undefined : points.reduce((sum, p) => sum + p.v, 0) / points.length;
}

/** The lock-wait figures the database checks and the control law's hold line share. */
export function lockWaitLoad(observation: Observation): { readonly lockWaitMs: number; readonly share: number } | undefined {
  const lockWait = meanOf(observation, 'lockWaitMs');
  const merge = meanOf(observation, 'mergeMs');
  if (lockWait === undefined || merge === undefined) return undefined;
  // Merge time includes the lock waits, so the share is at most 1 whatever the rounding of the means.
  const share = ratio(lockWait, Math.max(merge, lockWait));
  return share === undefined ? undefined : { lockWaitMs: lockWait, share };
}

/** A number for a sentence: whole above 100, two decimals at most below. */
export function fmt(n: number): string {
  return Math.abs(n) >= 100 ? Math.round(n).toString() : Number(n.toFixed(2)).toString();
}

/** A share as a percentage for a sentence. */
export function pct(share: number): string {
  return `${fmt(share * 100)}%`;
}

type Thresholds = BottleneckThresholds;

function queueGrowth(o: Observation, t: Thresholds): Bottleneck | undefined {
  const p = pointsOf(o, 'queueDepth');
  if (!rising(p, t, t.queueGrowthMessages)) return undefined;
  const first = p[0].v;
  const last = p[p.length - 1].v;
  return finding(o, 'partitionQueue', 'queueGrowth', 'queueDepth', p, `queue depth ${fmt(first)} → ${fmt(last)} messages over ${p.length} periods (+${fmt(last - first)} ≥ ${fmt(t.queueGrowthMessages)})`,
    'The processors are not keeping up with the partitions arriving: raise maxConcurrency if the database has headroom; if it has none, the database is the limit.');
}

function ageGrowth(o: Observation, t: Thresholds): Bottleneck | undefined {
  const p = pointsOf(o, 'oldestMessageAgeSeconds');
  if (!rising(p, t, t.ageGrowthSeconds)) return undefined;
  return finding(o, 'partitionQueue', 'ageGrowth', 'oldestMessageAgeSeconds', p, `oldest message age ${fmt(p[0].v)} s → ${fmt(p[p.length - 1].v)} s (+${fmt(p[p.length - 1].v - p[0].v)} ≥ ${fmt(t.ageGrowthSeconds)} s)`,
    'Messages wait longer and longer: raise maxConcurrency if the database has headroom; if the depth is flat, look for one partition failing and retrying (the dead-letter queue).');
}

function latencySpike(o: Observation, t: Thresholds, metric: 'durationMs' | 'partitionMs'): Bottleneck | undefined {
  const p = pointsOf(o, metric);
  if (p.length < t.minPeriods) return undefined;
  const earlier = median(p.slice(0, -1).map((x) => x.v));
  const last = p[p.length - 1].v;
  const factor = ratio(last, earlier);
  if (factor === undefined || factor <= t.latencySpikeFactor) return undefined;
  const what = metric === 'durationMs' ? 'invocation duration' : 'partition duration';
  return finding(o, 'processor', 'latencySpike', metric, p, `${what} ${fmt(last)} ms in the last period, ${fmt(factor)}× the earlier median of ${fmt(earlier)} ms (> ${fmt(t.latencySpikeFactor)}×)`,
    'Processing slowed down suddenly: compare mergeMs and lockWaitMs (database) with parseMs (work) to find the slow stage before changing concurrency.');
}

function throughputDrop(o: Observation, t: Thresholds): Bottleneck | undefined {
  const p = pointsOf(o, 'recordsProcessed');
  const depth = pointsOf(o, 'queueDepth');
  const waiting = depth.length > 0 ? depth[depth.length - 1].v : 0;
  if (p.length < t.minPeriods || !(waiting > 0)) return undefined;
  const earlier = median(p.slice(0, -1).map((x) => x.v));
  const last = p[p.length - 1].v;
  if (!(earlier > 0) || last >= t.throughputDropFraction * earlier) return undefined;
  return finding(o, 'processor', 'throughputDrop', 'recordsProcessed', p, `${fmt(last)} records in the last period, < ${fmt(t.throughputDropFraction)} × the earlier median of ${fmt(earlier)}, with ${fmt(waiting)} messages waiting`,
    'Fewer records get through although work is waiting: check errors, throttles and database time for what holds the processors back.');
}

function errorRateSpike(o: Observation, t: Thresholds): Bottleneck | undefined {
  const invocations = totalOf(o, 'invocations');
  const errors = totalOf(o, 'errors');
  // Errors are a subset of invocations: a rate above 1 is a statistics artefact (different periods).
  const raw = ratio(errors, invocations);
  const rate = raw === undefined ? undefined : Math.min(1, raw);
  if (rate === undefined || rate <= t.errorRate) return undefined;
  return finding(o, 'processor', 'errorRateSpike', 'errors', pointsOf(o, 'errors'), `error rate ${pct(rate)} (${fmt(errors)} of ${fmt(invocations)} invocations) > ${pct(t.errorRate)}`,
    "Invocations fail: find the cause in the processor's logs; lower maxConcurrency if they are database timeouts or refused connections.");
}

function throttles(o: Observation): Bottleneck | undefined {
  const n = totalOf(o, 'throttles');
  if (!(n > 0)) return undefined;
  return finding(o, 'processor', 'throttles', 'throttles', pointsOf(o, 'throttles'), `${fmt(n)} throttled invocations > 0`,
    "Lambda throttled the processor: keep maxConcurrency at or below its reserved concurrency and the account's unreserved pool, or lower it.");
}

function databaseSaturation(o: Observation, t: Thresholds): Bottleneck[] {
  const found: Bottleneck[] = [];
  const refused = totalOf(o, 'dbConnectionErrors');
  if (refused > 0) {
    found.push(finding(o, 'database', 'databaseSaturation', 'dbConnectionErrors', pointsOf(o, 'dbConnectionErrors'), `${fmt(refused)} database connection errors > 0`,
      "The database refused or dropped connections: lower maxConcurrency below its connection limit (max_connections less the other clients')."));
  }
  const locks = lockWaitLoad(o);
  if (locks && locks.lockWaitMs >= t.lockWaitMinMs && locks.share >= t.lockWaitShare) {
    found.push(finding(o, 'database', 'databaseSaturation', 'lockWaitMs', pointsOf(o, 'lockWaitMs'), `lock waits ${fmt(locks.lockWaitMs)} ms, ${pct(locks.share)} of merge time (≥ ${pct(t.lockWaitShare)} and ≥ ${fmt(t.lockWaitMinMs)} ms)`,
      'Concurrent merges wait for each other on the same rollup rows: lower maxConcurrency, so fewer merges contend at once.'));
  }
  const merge = pointsOf(o, 'mergeMs');
  const mergeMean = meanOf(o, 'mergeMs');
  const partitionMean = meanOf(o, 'partitionMs');
  // A partition's time includes its merge: the share is at most 1.
  const share = mergeMean === undefined || partitionMean === undefined ? undefined : ratio(mergeMean, Math.max(partitionMean, mergeMean));
  if (share !== undefined && share >= t.mergeShare && merge.length >= t.minPeriods) {
    const first = merge[0].v;
    const last = merge[merge.length - 1].v;
    if (slope(merge) > 0 && last >= (1 + t.mergeRise) * first) {
      found.push(finding(o, 'database', 'databaseSaturation', 'mergeMs', merge, `merges take ${pct(share)} of partition time (≥ ${pct(t.mergeShare)}) and rose ${fmt(first)} → ${fmt(last)} ms`,
        'The database is the slowest stage and getting slower: lower maxConcurrency, or give the database more capacity.'));
    }
  }
  return found;
}

/** A series that trends up: least-squares slope > 0 and last − first ≥ `by`. */
function rising(p: readonly Point[], t: Thresholds, by: number): boolean {
  return p.length >= t.minPeriods && slope(p) > 0 && p[p.length - 1].v - p[0].v >= by;
}

/** The least-squares slope against time (per ms); 0 for fewer than two distinct instants. */
function slope(p: readonly Point[]): number {
  const n = p.length;
  if (n < 2) return 0;
  const mt = p.reduce((s, x) => s + x.t, 0) / n;
  const mv = p.reduce((s, x) => s + x.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const x of p) {
    num += (x.t - mt) * (x.v - mv);
    den += (x.t - mt) ** 2;
  }
  return den > 0 ? num / den : 0;
}

/** a / b when both are finite, b > 0 and the quotient is finite; undefined otherwise. */
function ratio(a: number, b: number): number | undefined {
  const q = a / b;
  return b > 0 && Number.isFinite(q) ? q : undefined;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function finding(
  o: Observation,
  component: BottleneckComponent,
  kind: BottleneckKind,
  metric: SignalName,
  p: readonly Point[],
  summary: string,
  advice: string,
): Bottleneck {
  const periodMs = Number.isFinite(o.periodSeconds) && o.periodSeconds > 0 ? o.periodSeconds * 1000 : 0;
  const from = p.length > 0 ? p[0].t : o.from;
  const end = p.length > 0 ? p[p.length - 1].t + periodMs : o.to;
  const to = Number.isFinite(o.to) && o.to >= from ? Math.min(end, o.to) : end;
  return { component, kind, evidence: { metric, window: { from, to }, values: p.map((x) => x.v), summary }, recommendation: `${capitalise(summary)}. ${advice}` };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
