import type { Db } from '../store/db.ts';
import {
  getTunedSetting,
  lastTuningChanges,
  putTunedSetting,
  recordTuningChange,
  recordTuningEffectiveness,
  unmeasuredTuningChanges,
} from '../store/performance.ts';
import type { Bottleneck } from './bottlenecks.ts';
import { recommend, type TuningInput } from './controlLaw.ts';
import { measureEffectiveness } from './effectiveness.ts';
import type { Observation, Recommendation, TunableParameter, TunableSettings } from './signals.ts';

/** The processor's levers that live in Lambda: its event source mapping and reserved concurrency. */
export interface ProcessorLevers {
  read(): Promise<Omit<TunableSettings, 'partitionBytes'>>;
  apply(changes: Partial<Omit<TunableSettings, 'partitionBytes'>>): Promise<unknown>;
}

/** Reads every signal over a window (GetMetricData on AWS and locally alike). */
export type Observe = (window: { from: number; to: number; periodSeconds: number }) => Promise<Observation>;

export interface TunerContext {
  readonly db: Db;
  readonly processor: ProcessorLevers;
  readonly observe: Observe;
  /** The partition size the splitter uses until the tuner sets one. */
  readonly defaultPartitionBytes: number;
  /** How far back the control law looks, and how long after a change its effect is measured. */
  readonly windowSeconds: number;
  readonly periodSeconds: number;
  /** Overrides of the control law's defaults (the benchmark runs it on a seconds scale). */
  readonly law?: Pick<TuningInput, 'bounds' | 'policy' | 'thresholds'>;
}

/** What one tuner run saw, recommended, applied and measured. */
export interface TunerRun {
  readonly at: Date;
  readonly settings: TunableSettings;
  readonly recommendations: Recommendation[];
  readonly bottlenecks: Bottleneck[];
  /** The recommendations that changed something, when applying; empty in a dry run. */
  readonly applied: Recommendation[];
  /** Earlier changes whose following window has now passed, with their measured effectiveness. */
  readonly measured: { id: number; parameter: string; effectiveness: number; detail: string }[];
}

/**
 * One pass of the tuner: observes the last window, runs the control law over the current settings
 * and each parameter's last change (its cooldown), and — when `apply` — sets the changed levers
 * (mapping and reserved concurrency through Lambda, the partition size where the splitter reads it)
 * and records each change with its evidence in `tuning_history`. Every run also measures the
 * changes whose following window has passed: the same window before and after, compared.
 *
 * @example
 * const run = await runTuner(ctx, { apply: false, now: new Date() }); // a dry run
 */
export async function runTuner(ctx: TunerContext, options: { apply: boolean; now: Date }): Promise<TunerRun> {
  const now = options.now.getTime();
  const windowMs = ctx.windowSeconds * 1000;
  const observation = await ctx.observe({ from: now - windowMs, to: now, periodSeconds: ctx.periodSeconds });
  const settings: TunableSettings = {
    ...(await ctx.processor.read()),
    partitionBytes: (await getTunedSetting(ctx.db, 'partitionBytes')) ?? ctx.defaultPartitionBytes,
  };
  const lastChanges = (await lastTuningChanges(ctx.db)) as Partial<Record<TunableParameter, number>>;
  const { recommendations, bottlenecks } = recommend({ ...ctx.law, settings, observation, now, lastChanges });

  const applied: Recommendation[] = [];
  if (options.apply) {
    const changes = recommendations.filter((r) => r.recommendedValue !== r.currentValue);
    const lambdaChanges = Object.fromEntries(changes.filter((r) => r.parameter !== 'partitionBytes').map((r) => [r.parameter, r.recommendedValue]));
    if (Object.keys(lambdaChanges).length > 0) await ctx.processor.apply(lambdaChanges);
    const partition = changes.find((r) => r.parameter === 'partitionBytes');
    if (partition?.recommendedValue != null) await putTunedSetting(ctx.db, 'partitionBytes', partition.recommendedValue);
    for (const change of changes) {
      await recordTuningChange(ctx.db, {
        parameter: change.parameter,
        oldValue: change.currentValue,
        newValue: change.recommendedValue,
        reason: change.reason,
        evidence: { expectedImprovement: change.expectedImprovement, bottlenecks, window: { from: observation.from, to: observation.to } },
        appliedAt: options.now,
      });
      applied.push(change);
    }
  }

  const measured: TunerRun['measured'] = [];
  for (const change of await unmeasuredTuningChanges(ctx.db, new Date(now - windowMs))) {
    const at = change.appliedAt.getTime();
    const before = await ctx.observe({ from: at - windowMs, to: at, periodSeconds: ctx.periodSeconds });
    const after = await ctx.observe({ from: at, to: at + windowMs, periodSeconds: ctx.periodSeconds });
    const { effectiveness, detail } = measureEffectiveness(change.parameter as TunableParameter, before, after);
    await recordTuningEffectiveness(ctx.db, change.id, effectiveness, detail);
    measured.push({ id: change.id, parameter: change.parameter, effectiveness, detail });
  }
  return { at: options.now, settings, recommendations, bottlenecks, applied, measured };
}
