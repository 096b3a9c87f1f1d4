import { defaultThresholds, detectBottlenecks, fmt, lockWaitLoad, meanOf, pct, pointsOf, totalOf, type Bottleneck, type BottleneckThresholds } from './bottlenecks.ts';
import type { Observation, Recommendation, SignalName, TunableParameter, TunableSettings } from './signals.ts';

/**
 * The tuner's control law: from the current settings and one observed window to one
 * Recommendation per parameter (recommendedValue === currentValue means keep), each with its
 * reason and the evidence's numbers. Pure: the clock comes in as `now`.
 *
 * Evidence: only periods that start at or after the most recent applied change of any parameter
 * count, since earlier ones describe a system that no longer exists; this is what keeps the
 * law from reacting twice to the same backlog.
 *
 * Every parameter, first: a value outside its bounds is brought back to the nearest bound; a
 * parameter changed less than `cooldownSeconds` ago is kept ("keep: cooldown"); a window without
 * processor invocations keeps everything ("keep: not enough data"). reservedConcurrency reads only the
 * settings, so it passes only the bounds check.
 *
 * - maxConcurrency, AIMD. Throttles, an error-rate spike or database saturation (see
 *   detectBottlenecks) → multiplicative decrease to ⌊current × decreaseFactor⌋, at least
 *   minConcurrency, even while the backlog grows. Otherwise, queue or age growth → additive
 *   increase by increaseStep up to maxConcurrency, unless the database is past the hold line:
 *   lock waits ≥ holdFraction × both lock-wait thresholds (by default ≥ 50 ms and ≥ 15 % of merge
 *   time, half the saturation line). Between the hold line and saturation nothing moves: that dead
 *   band is what stops the law from sawing up and down across the database's limit. Otherwise keep.
 * - reservedConcurrency follows: when maxConcurrency changes it becomes the new value +
 *   reservedHeadroom (default 0: AWS requires reserved ≥ the mappings' maximum concurrency or it
 *   throttles their messages, and the reservation is also the hard cap on the processors' database
 *   connections, so equal is the tightest safe value;
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html). Null (unreserved) stays null unless
 *   maxConcurrency changes; a reservation below maxConcurrency is raised to it.
 * - partitionBytes: measured throughput = Σ bytesRead / Σ (invocations × durationMs) per period,
 *   i.e. bytes per second of processor time. Invocations and Duration are AWS's own figures and
 *   their product is the exact busy time, whatever the batch size; partitionMs is an average per
 *   partition and the partition count is not a signal. Target = throughput × targetPartitionSeconds,
 *   rounded to a whole MiB, bounded; recommended only if it differs from the current value by more
 *   than partitionHysteresis (25 %).
 * - batchSize: if partitions take < fastPartitionFraction × target (5 s) on average, batch
 *   ⌊target / partition seconds⌋ of them (bounded) to amortise start-up; if an invocation takes
 *   > slowBatchFactor × target (40 s), come back down to that same figure; otherwise keep. Kept
 *   while partitionBytes changes, so one lever acts on the partition at a time.
 */

const MiB = 1024 * 1024;

/** Hard limits on the recommended values. */
export interface TuningBounds {
  /** @default 2, the AWS minimum of ScalingConfig.MaximumConcurrency. */
  readonly minConcurrency: number;
  /** @default 50; must stay below what the database can serve. */
  readonly maxConcurrency: number;
  /** @default 1 MiB */
  readonly minPartitionBytes: number;
  /** @default 128 MiB */
  readonly maxPartitionBytes: number;
  /** @default 1 */
  readonly minBatchSize: number;
  /** @default 10, the SQS mapping's limit without a batching window. */
  readonly maxBatchSize: number;
}

/** The bounds used when none are given. */
export const defaultBounds: TuningBounds = {
  minConcurrency: 2,
  maxConcurrency: 50,
  minPartitionBytes: MiB,
  maxPartitionBytes: 128 * MiB,
  minBatchSize: 1,
  maxBatchSize: 10,
};

/** How hard and how often the law moves. */
export interface TuningPolicy {
  readonly decreaseFactor: number;
  readonly increaseStep: number;
  readonly reservedHeadroom: number;
  /** The hold line as a fraction of the lock-wait saturation thresholds. */
  readonly holdFraction: number;
  readonly targetPartitionSeconds: number;
  readonly partitionHysteresis: number;
  readonly fastPartitionFraction: number;
  readonly slowBatchFactor: number;
  readonly cooldownSeconds: number;
}

/** The policy used when none is given. */
export const defaultPolicy: TuningPolicy = {
  decreaseFactor: 0.5,
  increaseStep: 2,
  reservedHeadroom: 0,
  holdFraction: 0.5,
  // Long enough that per-partition overhead (S3 GET, transaction) is small, short enough that a retry is cheap.
  targetPartitionSeconds: 20,
  partitionHysteresis: 0.25,
  fastPartitionFraction: 0.25,
  slowBatchFactor: 2,
  // Five one-minute periods: a change's effect must fill a trend's worth of periods before the next one.
  cooldownSeconds: 300,
};

/** What recommend reads. */
export interface TuningInput {
  readonly settings: TunableSettings;
  readonly observation: Observation;
  /** Epoch ms. */
  readonly now: number;
  /** Epoch ms of each parameter's last applied change. */
  readonly lastChanges: Partial<Record<TunableParameter, number>>;
  readonly bounds?: Partial<TuningBounds>;
  readonly policy?: Partial<TuningPolicy>;
  readonly thresholds?: Partial<BottleneckThresholds>;
}

/** One recommendation per parameter, and the findings they rest on. */
export interface TuningResult {
  /** maxConcurrency, reservedConcurrency, partitionBytes, batchSize, in that order. */
  readonly recommendations: Recommendation[];
  readonly bottlenecks: Bottleneck[];
}

interface Context extends Pick<TuningInput, 'settings' | 'observation' | 'now' | 'lastChanges'> {
  readonly bounds: TuningBounds;
  readonly policy: TuningPolicy;
  readonly thresholds: BottleneckThresholds;
  readonly bottlenecks: readonly Bottleneck[];
  /** "the window", or "the N s since the last change" when earlier periods were dropped. */
  readonly scope: string;
}

/** The law above: one recommendation per tunable parameter. */
export function recommend(input: TuningInput): TuningResult {
  const observation = sinceLastChange(input.observation, input.lastChanges);
  const thresholds = { ...defaultThresholds, ...input.thresholds };
  const bottlenecks = detectBottlenecks(observation, thresholds);
  const ctx: Context = {
    ...input,
    observation,
    scope: observation === input.observation ? 'the window' : `the ${fmt((observation.to - observation.from) / 1000)} s since the last change`,
    thresholds,
    bottlenecks,
    bounds: { ...defaultBounds, ...input.bounds },
    policy: { ...defaultPolicy, ...input.policy },
  };
  const maxConcurrency = decideMaxConcurrency(ctx);
  const partitionBytes = decidePartitionBytes(ctx);
  return { recommendations: [maxConcurrency, decideReservedConcurrency(ctx, maxConcurrency), partitionBytes, decideBatchSize(ctx, partitionBytes)], bottlenecks };
}

/** A signal's total over the periods with invocations and duration, and the processor time they took. */
export function perBusySecond(observation: Observation, name: SignalName): { readonly total: number; readonly busySeconds: number } | undefined {
  const invocations = new Map(pointsOf(observation, 'invocations').map((p) => [p.t, p.v]));
  const duration = new Map(pointsOf(observation, 'durationMs').map((p) => [p.t, p.v]));
  let total = 0;
  let busySeconds = 0;
  for (const p of pointsOf(observation, name)) {
    const n = invocations.get(p.t);
    const ms = duration.get(p.t);
    if (n === undefined || ms === undefined) continue;
    total += p.v;
    busySeconds += (n * ms) / 1000;
  }
  return busySeconds > 0 && total > 0 ? { total, busySeconds } : undefined;
}

function decideMaxConcurrency(ctx: Context): Recommendation {
  const { bounds, policy, thresholds } = ctx;
  const current = ctx.settings.maxConcurrency;
  const guarded = guard(ctx, 'maxConcurrency', current, bounds.minConcurrency, bounds.maxConcurrency);
  if (guarded) return guarded;
  const harm = ctx.bottlenecks.filter((b) => b.kind === 'throttles' || b.kind === 'errorRateSpike' || b.kind === 'databaseSaturation');
  if (harm.length > 0) {
    const next = clamp(Math.floor(current * policy.decreaseFactor), bounds.minConcurrency, bounds.maxConcurrency);
    if (next >= current) return keep('maxConcurrency', current, `keep: ${evidence(harm)}, but ${current} is already the minimum of ${bounds.minConcurrency}`);
    return change('maxConcurrency', current, next, `${evidence(harm)}: multiplicative decrease ${current} × ${policy.decreaseFactor} → ${next}`,
      `database and function load ~${fmt(next / current)}× (${current} → ${next} concurrent invocations), so the ${harm.map((b) => b.kind).join(', ')} should stop`);
  }
  const backlog = ctx.bottlenecks.filter((b) => b.kind === 'queueGrowth' || b.kind === 'ageGrowth');
  if (backlog.length === 0) return keep('maxConcurrency', current, `keep: no backlog growth, throttles, error-rate spike or database saturation in ${ctx.scope}`);
  const locks = lockWaitLoad(ctx.observation);
  const holdMs = policy.holdFraction * thresholds.lockWaitMinMs;
  const holdShare = policy.holdFraction * thresholds.lockWaitShare;
  const lockText = locks ? `lock waits ${fmt(locks.lockWaitMs)} ms, ${pct(locks.share)} of merge time` : 'no lock-wait data';
  if (locks && locks.lockWaitMs >= holdMs && locks.share >= holdShare) {
    return keep('maxConcurrency', current, `keep: ${evidence(backlog)}, but ${lockText}, past the hold line (≥ ${fmt(holdMs)} ms and ≥ ${pct(holdShare)}): more concurrency would saturate the database`);
  }
  const next = clamp(current + policy.increaseStep, bounds.minConcurrency, bounds.maxConcurrency);
  if (next <= current) return keep('maxConcurrency', current, `keep: ${evidence(backlog)}, but ${current} is already the maximum of ${bounds.maxConcurrency}`);
  return change('maxConcurrency', current, next, `${evidence(backlog)}; database healthy (${lockText}): additive increase ${current} + ${policy.increaseStep} → ${next}`,
    `processing capacity up to ~${fmt(next / current)}× (${current} → ${next} concurrent invocations), so the backlog drains instead of growing`);
}

function decideReservedConcurrency(ctx: Context, max: Recommendation): Recommendation {
  const current = ctx.settings.reservedConcurrency;
  const headroom = ctx.policy.reservedHeadroom;
  const why = "reserved concurrency below the mapping's maximum concurrency makes Lambda throttle its messages, and it caps the processors' database connections";
  if (max.recommendedValue !== max.currentValue && max.recommendedValue !== null) {
    const next = max.recommendedValue + headroom;
    if (next === current) return keep('reservedConcurrency', current, `keep: already maxConcurrency ${max.recommendedValue} + ${headroom} headroom`);
    return change('reservedConcurrency', current, next, `follows maxConcurrency ${max.currentValue} → ${max.recommendedValue}, + ${headroom} headroom: ${why}`,
      `none by itself; the maxConcurrency change takes effect without throttles or extra connections`);
  }
  const unchanged = notEnoughData(ctx) ?? 'keep: maxConcurrency does not change';
  if (current === null) return keep('reservedConcurrency', null, `${unchanged}; unreserved`);
  // No cooldown or data check: this rule reads only the settings.
  const outside = outOfBounds('reservedConcurrency', current, ctx.bounds.minConcurrency, ctx.bounds.maxConcurrency + headroom);
  if (outside) return outside;
  const wanted = ctx.settings.maxConcurrency + headroom;
  if (current < ctx.settings.maxConcurrency) {
    return change('reservedConcurrency', current, wanted, `${current} is below maxConcurrency ${ctx.settings.maxConcurrency}: ${why}`,
      `no throttles from the ${ctx.settings.maxConcurrency - current} invocations the mapping may start beyond the reservation`);
  }
  return keep('reservedConcurrency', current, `${unchanged}; the reservation covers maxConcurrency ${ctx.settings.maxConcurrency}`);
}

function decidePartitionBytes(ctx: Context): Recommendation {
  const { bounds, policy } = ctx;
  const current = ctx.settings.partitionBytes;
  const guarded = guard(ctx, 'partitionBytes', current, bounds.minPartitionBytes, bounds.maxPartitionBytes);
  if (guarded) return guarded;
  const read = perBusySecond(ctx.observation, 'bytesRead');
  if (!read) return keep('partitionBytes', current, `keep: no bytes read with invocation time in ${ctx.scope}`);
  const rate = read.total / read.busySeconds;
  if (!Number.isFinite(rate)) return keep('partitionBytes', current, `keep: no measurable invocation time in ${ctx.scope}`);
  // Below a byte per second nothing was really read: sizing on it would divide by ~0 (a property
  // test found a 1e-25 B/s reading giving "a partition takes ~Infinity s").
  if (rate < 1) return keep('partitionBytes', current, `keep: under 1 byte read per second of invocation time in ${ctx.scope}, too little to size partitions on`);
  const ideal = rate * policy.targetPartitionSeconds;
  const next = clamp(Math.max(1, Math.round(ideal / MiB)) * MiB, bounds.minPartitionBytes, bounds.maxPartitionBytes);
  const measured = `measured ${fmt(rate / MiB)} MiB/s (${fmt(read.total / MiB)} MiB in ${fmt(read.busySeconds)} s of invocation time) × ${fmt(policy.targetPartitionSeconds)} s = ${fmt(ideal / MiB)} MiB, so ${fmt(next / MiB)} MiB within bounds`;
  if (Math.abs(next - current) <= policy.partitionHysteresis * current) {
    return keep('partitionBytes', current, `keep: ${measured}, within ${pct(policy.partitionHysteresis)} of the current ${fmt(current / MiB)} MiB`);
  }
  const gain = next > current ? 'fewer partitions, less overhead per byte' : 'cheaper retries, work spread over more invocations';
  return change('partitionBytes', current, next, `${measured}; a ${fmt(current / MiB)} MiB partition takes ~${fmt(current / rate)} s, more than ${pct(policy.partitionHysteresis)} off`,
    `a partition takes ~${fmt(next / rate)} s instead of ~${fmt(current / rate)} s (${gain})`);
}

function decideBatchSize(ctx: Context, partition: Recommendation): Recommendation {
  const { bounds, policy } = ctx;
  const current = ctx.settings.batchSize;
  const guarded = guard(ctx, 'batchSize', current, bounds.minBatchSize, bounds.maxBatchSize);
  if (guarded) return guarded;
  if (partition.recommendedValue !== partition.currentValue) return keep('batchSize', current, 'keep: partitionBytes changes first; batch size is judged on partitions of the new size');
  const partitionMs = meanOf(ctx.observation, 'partitionMs');
  if (partitionMs === undefined || !(partitionMs > 0)) return keep('batchSize', current, `keep: no partition durations in ${ctx.scope}`);
  const seconds = partitionMs / 1000;
  const target = policy.targetPartitionSeconds;
  const fast = policy.fastPartitionFraction * target;
  const slow = policy.slowBatchFactor * target;
  const fit = clamp(Math.floor(target / seconds), bounds.minBatchSize, bounds.maxBatchSize);
  if (seconds < fast && fit > current) {
    return change('batchSize', current, fit, `partitions take ${fmt(seconds)} s on average, < ${fmt(fast)} s: ${fit} of them fill an invocation of ~${fmt(fit * seconds)} s`,
      `start-up and polling shared by ${fit} partitions instead of ${current}: ~${fmt(fit / current)}× fewer invocations`);
  }
  if (current * seconds > slow && fit < current) {
    return change('batchSize', current, fit, `${current} partitions × ${fmt(seconds)} s = ${fmt(current * seconds)} s per invocation, > ${fmt(slow)} s`,
      `invocations of ~${fmt(fit * seconds)} s instead of ~${fmt(current * seconds)} s, so a failure retries fewer partitions`);
  }
  return keep('batchSize', current, `keep: partitions take ${fmt(seconds)} s on average and invocations ~${fmt(current * seconds)} s, neither < ${fmt(fast)} s nor > ${fmt(slow)} s`);
}

/** The bounds, cooldown and data checks every parameter passes first; undefined when none applies. */
function guard(ctx: Context, parameter: TunableParameter, current: number, lo: number, hi: number): Recommendation | undefined {
  const outside = outOfBounds(parameter, current, lo, hi);
  if (outside) return outside;
  const last = ctx.lastChanges[parameter];
  const cooldownMs = ctx.policy.cooldownSeconds * 1000;
  if (last !== undefined && ctx.now - last < cooldownMs) {
    return keep(parameter, current, `keep: cooldown, changed ${fmt((ctx.now - last) / 1000)} s ago, < ${fmt(ctx.policy.cooldownSeconds)} s`);
  }
  const missing = notEnoughData(ctx);
  return missing === undefined ? undefined : keep(parameter, current, missing);
}

/** Why the window cannot be judged, or undefined when it can. */
function notEnoughData(ctx: Context): string | undefined {
  if (totalOf(ctx.observation, 'invocations') > 0) return undefined;
  return `keep: not enough data, no processor invocations in ${ctx.scope}`;
}

function outOfBounds(parameter: TunableParameter, current: number, lo: number, hi: number): Recommendation | undefined {
  if (current >= lo && current <= hi) return undefined;
  const next = Number.isFinite(current) ? clamp(current, lo, hi) : lo;
  return change(parameter, current, next, `${current} is outside the bounds [${lo}, ${hi}]`, 'none: brings the setting back within its bounds');
}

/** The observation cut to the periods at or after the latest applied change, if one falls inside it. */
function sinceLastChange(observation: Observation, lastChanges: Partial<Record<TunableParameter, number>>): Observation {
  const changes = Object.values(lastChanges).filter((t): t is number => typeof t === 'number' && Number.isFinite(t));
  const since = changes.length > 0 ? Math.max(...changes) : Number.NEGATIVE_INFINITY;
  if (!(since > observation.from)) return observation;
  const series = Object.fromEntries(
    Object.entries(observation.series ?? {}).map(([name, s]) => {
      const keepIdx = s.timestamps.map((t, i) => (t >= since ? i : -1)).filter((i) => i >= 0);
      return [name, { timestamps: keepIdx.map((i) => s.timestamps[i]), values: keepIdx.map((i) => s.values[i]) }];
    }),
  ) as unknown as Observation['series'];
  return { ...observation, from: Math.min(since, observation.to), series };
}

function evidence(found: readonly Bottleneck[]): string {
  return found.map((b) => b.evidence.summary).join('; ');
}

function keep(parameter: TunableParameter, current: number | null, reason: string): Recommendation {
  return { parameter, currentValue: current, recommendedValue: current, reason, expectedImprovement: 'none' };
}

function change(parameter: TunableParameter, current: number | null, next: number, reason: string, expectedImprovement: string): Recommendation {
  return { parameter, currentValue: current, recommendedValue: next, reason, expectedImprovement };
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}
