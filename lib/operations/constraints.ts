/**
 * Which limit binds the pipeline, from what the functions recorded (resource_usage) and the
 * processor's current settings: what GET /api/resource-usage/constraints answers. Pure: the
 * observed figures and the caps come in, one verdict per limit goes out, each with the sentence
 * it rests on.
 */

/** A share of a cap from which a limit counts as reached: 90%, the headroom an operator wants kept. */
export const NEAR = 0.9;

/** The limits judged. */
export type LimitName = 'reservedConcurrency' | 'databaseConnections' | 'lambdaMemory' | 'queueAge';

/** One verdict. `observed` or `cap` is null when unknown; then `binds` is false and the evidence says why. */
export interface Constraint {
  readonly limit: LimitName;
  /** The function it concerns (lambdaMemory: one verdict per function). */
  readonly function?: string;
  readonly binds: boolean;
  readonly observed: number | null;
  readonly cap: number | null;
  readonly evidence: string;
}

/** One function's figures over the window (a subset of the store's FunctionUsage). */
export interface UsageFigures {
  readonly function: string;
  readonly invocations: number;
  readonly peakConcurrency: number;
  readonly memory: { readonly maxRssMib: number; readonly configuredMb: number | null };
  readonly connections: { readonly maxInUse: number | null; readonly poolCap: number; readonly maxConnections: number | null };
  readonly queue: { readonly maxVisible: number | null };
}

export interface ConstraintInput {
  /** Per function, from resource_usage over the window. */
  readonly usage: readonly UsageFigures[];
  /** The processor's mapping maximum and reserved concurrency now; undefined when they could not be read. */
  readonly processor: { readonly maxConcurrency: number; readonly reservedConcurrency: number | null } | undefined;
  /** The oldest partition message's largest age in the window (CloudWatch), seconds; undefined: no datapoint. */
  readonly oldestMessageAgeSeconds: number | undefined;
  /** The age from which waiting messages mean the processors are not keeping up, seconds. */
  readonly queueAgeCapSeconds: number;
}

const round = (n: number) => Math.round(n * 10) / 10;
const pct = (share: number) => `${Math.round(share * 100)}%`;

/**
 * Every limit's verdict: the processor's concurrency, the database's connections, each recorded
 * function's memory, the partition queue's age — in that order.
 *
 * @example
 * bindingConstraints({ usage, processor: { maxConcurrency: 8, reservedConcurrency: 8 }, oldestMessageAgeSeconds: 40, queueAgeCapSeconds: 1800 })
 */
export function bindingConstraints(input: ConstraintInput): Constraint[] {
  return [concurrency(input), connections(input), ...input.usage.map(memory), queueAge(input)];
}

function concurrency({ usage, processor }: ConstraintInput): Constraint {
  const limit = 'reservedConcurrency';
  const p = usage.find((u) => u.function === 'processor');
  if (!processor) return { limit, binds: false, observed: p?.peakConcurrency ?? null, cap: null, evidence: "the processor's concurrency settings could not be read: unknown" };
  // Lambda runs at most the mapping's maximum, and never more than the reservation.
  const cap = Math.min(processor.maxConcurrency, processor.reservedConcurrency ?? Number.POSITIVE_INFINITY);
  if (!p) return { limit, binds: false, observed: null, cap, evidence: 'no processor invocation recorded in the window' };
  const backlog = Math.max(0, ...usage.map((u) => u.queue.maxVisible ?? 0));
  const atCap = p.peakConcurrency >= cap;
  const binds = atCap && backlog > 0;
  const evidence = binds
    ? `${p.peakConcurrency} processors ran at once, the cap of ${cap}, while up to ${backlog} partition messages waited: more concurrency would drain the queue sooner`
    : atCap
      ? `${p.peakConcurrency} processors ran at once (the cap of ${cap}) but no backlog was sampled: the cap did not hold work back`
      : `at most ${p.peakConcurrency} of ${cap} processors ran at once`;
  return { limit, binds, observed: p.peakConcurrency, cap, evidence };
}

function connections({ usage, processor }: ConstraintInput): Constraint {
  const limit = 'databaseConnections';
  const inUse = usage.map((u) => u.connections.maxInUse).filter((n): n is number => n !== null);
  const servers = usage.map((u) => u.connections.maxConnections).filter((n): n is number => n !== null);
  if (inUse.length === 0 || servers.length === 0) return { limit, binds: false, observed: null, cap: null, evidence: 'no connection count recorded in the window: unknown' };
  const observed = Math.max(...inUse);
  const maxConnections = Math.max(...servers);
  const p = usage.find((u) => u.function === 'processor');
  // Every processor's pool full: the most connections the processors can hold (merges queue for one beyond).
  const processorCap = p && processor ? p.connections.poolCap * Math.min(processor.maxConcurrency, processor.reservedConcurrency ?? Number.POSITIVE_INFINITY) : undefined;
  const cap = Math.min(maxConnections, processorCap ?? Number.POSITIVE_INFINITY);
  const binds = observed >= NEAR * cap;
  const which = cap === maxConnections ? `the server's max_connections (${maxConnections})` : `the processors' pools (${p!.connections.poolCap} × ${cap / p!.connections.poolCap} = ${cap})`;
  const evidence = binds
    ? `${observed} sessions were in use, ${pct(observed / cap)} of ${which}: connections limit the work`
    : `at most ${observed} sessions were in use, ${pct(observed / cap)} of ${which}`;
  return { limit, binds, observed, cap, evidence };
}

function memory(u: UsageFigures): Constraint {
  const limit = 'lambdaMemory';
  const observed = round(u.memory.maxRssMib);
  const cap = u.memory.configuredMb;
  if (cap === null) return { limit, function: u.function, binds: false, observed, cap, evidence: `${u.function}'s configured memory is unknown (not run by Lambda)` };
  const share = u.memory.maxRssMib / cap;
  const binds = share >= NEAR;
  const evidence = binds
    ? `${u.function}'s high-water mark reached ${observed} MiB, ${pct(share)} of its ${cap} MB: more memory (or smaller partitions) avoids out-of-memory kills`
    : `${u.function}'s high-water mark was ${observed} MiB, ${pct(share)} of its ${cap} MB`;
  return { limit, function: u.function, binds, observed, cap, evidence };
}

function queueAge({ oldestMessageAgeSeconds: age, queueAgeCapSeconds: cap }: ConstraintInput): Constraint {
  const limit = 'queueAge';
  if (age === undefined) return { limit, binds: false, observed: null, cap, evidence: 'no ApproximateAgeOfOldestMessage datapoint in the window: unknown' };
  const binds = age >= cap;
  const evidence = binds
    ? `the oldest partition message waited ${age} s, at least ${cap} s: the processors are not keeping up`
    : `the oldest partition message waited at most ${age} s (under ${cap} s)`;
  return { limit, binds, observed: age, cap, evidence };
}

/**
 * The oldest-message age from which the queue counts as not draining: the production stage's
 * alarm threshold (infra/stages.ts, 15 minutes).
 */
export const QUEUE_AGE_CAP_SECONDS = 900;
