import { fmt, pct, totalOf } from './bottlenecks.ts';
import { perBusySecond } from './controlLaw.ts';
import type { Observation, TunableParameter } from './signals.ts';

/**
 * How much a change helped, from the window before it and the window after it:
 *
 *   effectiveness = gain − failureWeight × Δfailures
 *
 * - gain: the relative change of the figure the parameter is meant to move. Concurrency
 *   (maxConcurrency, reservedConcurrency) buys throughput: records processed per second of the
 *   window. Partition size and batch size buy efficiency: records processed per second of
 *   processor time (Σ invocations × durationMs), which a change of arrivals does not move. From
 *   nothing to something counts as +1; nothing in either window as 0.
 * - Δfailures: the change of errors / invocations + throttles / (invocations + throttles) +
 *   dbConnectionErrors / invocations. Failures appearing cost, failures disappearing count in
 *   favour: a decrease that stops connection errors is effective even if it slows the work down.
 *   Weight 2: a change that adds 10 % failed invocations must buy more than 20 % throughput.
 *
 * Positive = better, 0 = no measurable difference. Throughput over a window with an empty queue is
 * the arrival rate, not the capacity: compare windows with work waiting.
 */

const FAILURE_WEIGHT = 2;

/** A score of a change from the windows around it: positive = better. */
export function measureEffectiveness(parameter: TunableParameter, before: Observation, after: Observation): { effectiveness: number; detail: string } {
  const byThroughput = parameter === 'maxConcurrency' || parameter === 'reservedConcurrency';
  const figure = byThroughput ? throughput : efficiency;
  const b = figure(before);
  const a = figure(after);
  const gain = b > 0 ? (a - b) / b : a > 0 ? 1 : 0;
  const fb = failures(before);
  const fa = failures(after);
  const effectiveness = gain - FAILURE_WEIGHT * (fa - fb);
  const unit = byThroughput ? 'records/s' : 'records per processor-second';
  const detail = `${unit} ${fmt(b)} → ${fmt(a)} (${gain >= 0 ? '+' : ''}${pct(gain)}); failures ${pct(fb)} → ${pct(fa)} of invocations; effectiveness ${fmt(effectiveness)}`;
  return { effectiveness, detail };
}

/** Records processed per second of the observed window. */
function throughput(o: Observation): number {
  const seconds = (o.to - o.from) / 1000;
  const records = totalOf(o, 'recordsProcessed');
  return seconds > 0 && Number.isFinite(seconds) ? records / seconds : 0;
}

/** Records processed per second of processor time. */
function efficiency(o: Observation): number {
  const r = perBusySecond(o, 'recordsProcessed');
  return r ? r.total / r.busySeconds : 0;
}

/** Failed and throttled invocations and refused connections, as shares of invocations. */
function failures(o: Observation): number {
  const invocations = totalOf(o, 'invocations');
  const throttles = totalOf(o, 'throttles');
  const errors = invocations > 0 ? totalOf(o, 'errors') / invocations : 0;
  const refused = invocations > 0 ? totalOf(o, 'dbConnectionErrors') / invocations : 0;
  const throttled = invocations + throttles > 0 ? throttles / (invocations + throttles) : 0;
  return errors + refused + throttled;
}
