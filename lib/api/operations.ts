import { z } from 'zod';
import { bindingConstraints, QUEUE_AGE_CAP_SECONDS } from '../operations/constraints.ts';
import type { RecoveryContext } from '../recovery/recovery.ts';
import { pageResourceUsage, summarizeResourceUsage } from '../store/resourceUsage.ts';
import { topology, type AnyFunctionName } from '../topology.ts';
import { detectBottlenecks } from '../tune/bottlenecks.ts';
import { runTuner, type TunerContext } from '../tune/runTuner.ts';
import { cursorParam, cursorParts } from './cursor.ts';
import { ApiError, instant, limit, pageJson, shown } from './params.ts';
import { rest, type RestRoute } from './rest.ts';
import { apiRoutes } from './routes.ts';

/**
 * The operations routes under /api: what the functions used (resource_usage), which limit binds,
 * the tuner's bottlenecks and recommendations, and applying them. The tuning routes run the
 * tuner's own code (lib/tune) over the same CloudWatch observation and Lambda settings it reads.
 */

/** The API's context: the database and queue of every route, and the tuner's for the tuning routes. */
export interface OperationsContext extends RecoveryContext {
  /** Absent where no tuner targets are configured (then the tuning routes answer 404). */
  readonly tuner?: TunerContext;
}

const FUNCTIONS = Object.keys({ ...topology.functions, ...topology.scheduled, ...topology.http, ...topology.deploy }) as AnyFunctionName[];
const functionName = z
  .enum(FUNCTIONS as [AnyFunctionName, ...AnyFunctionName[]], { error: (issue) => `must be one of ${FUNCTIONS.join(', ')}, got ${shown(String(issue.input))}` })
  .optional();
const none = z.object({});
const DAY_MS = 86_400_000;

/** A 400 naming `from` when it is after `to`. */
function fromNotAfterTo({ from, to }: { from?: Date | undefined; to?: Date | undefined }, ctx: z.RefinementCtx): void {
  if (from && to && from > to) ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be after to (${to.toISOString()}), got ${from.toISOString()}` });
}
const windowOnly = z.object({ path: none, query: z.object({ from: instant(), to: instant() }).superRefine(fromNotAfterTo) });

/** [from, to) with defaults: `to` now, `from` `spanMs` before it; at most `maxMs` wide. */
function windowOf(query: { from?: Date; to?: Date }, spanMs: number, maxMs: number): { from: Date; to: Date } {
  const to = query.to ?? (query.from ? new Date(Math.min(Date.now(), query.from.getTime() + spanMs)) : new Date());
  const from = query.from ?? new Date(to.getTime() - spanMs);
  if (from > to) throw new ApiError(400, `from must not be after to (${to.toISOString()}), got ${from.toISOString()}`);
  if (to.getTime() - from.getTime() > maxMs) throw new ApiError(400, `from must be at most ${maxMs / DAY_MS} day(s) before to, got ${from.toISOString()} to ${to.toISOString()}`);
  return { from, to };
}

function tunerOf(ctx: OperationsContext): TunerContext {
  if (!ctx.tuner) throw new ApiError(404, 'this API has no tuner configured');
  return ctx.tuner;
}

const observe = (tuner: TunerContext, w: { from: Date; to: Date }) => tuner.observe({ from: w.from.getTime(), to: w.to.getTime(), periodSeconds: tuner.periodSeconds });

export const operationsRoutes = {
  /** resource_usage rows, newest first; filters function and started_at in [from, to). */
  listResourceUsage: rest(
    'GET',
    '/api/resource-usage',
    z.object({
      path: none,
      query: z.object({ function: functionName, from: instant(), to: instant(), limit: limit(100), cursor: cursorParam(z.tuple([cursorParts.id])) }).superRefine(fromNotAfterTo),
    }),
    async (ctx: OperationsContext, { query }) =>
      pageJson(
        await pageResourceUsage(ctx.db, { limit: query.limit, before: query.cursor?.[0], function: query.function, from: query.from, to: query.to }),
        (r) => r,
        (next) => [next],
      ),
  ),

  /** Per function over [from, to) (default the last 24 hours): invocations, duration, memory, connections, queue depth. */
  resourceUsageSummary: rest(
    'GET',
    '/api/resource-usage/summary',
    windowOnly,
    async (ctx: OperationsContext, { query }) => {
      const w = windowOf(query, DAY_MS, 31 * DAY_MS);
      return { ...w, functions: await summarizeResourceUsage(ctx.db, w) };
    },
  ),

  /**
   * Which limit binds over [from, to) (default the last hour): the processor's concurrency, the
   * database's connections, each function's memory, the queue's age. Settings the API cannot read
   * (no tuner, Lambda refusing) make that verdict "unknown", not an error.
   */
  constraints: rest(
    'GET',
    '/api/resource-usage/constraints',
    windowOnly,
    async (ctx: OperationsContext, { query }) => {
      const w = windowOf(query, 3_600_000, DAY_MS);
      const usage = await summarizeResourceUsage(ctx.db, w);
      const [processor, observation] = ctx.tuner
        ? await Promise.all([ctx.tuner.processor.read().catch(() => undefined), observe(ctx.tuner, w).catch(() => undefined)])
        : [undefined, undefined];
      const ages = observation?.series.oldestMessageAgeSeconds.values ?? [];
      const constraints = bindingConstraints({
        usage,
        processor,
        oldestMessageAgeSeconds: ages.length > 0 ? Math.max(...ages) : undefined,
        queueAgeCapSeconds: QUEUE_AGE_CAP_SECONDS,
      });
      return { ...w, binding: constraints.filter((c) => c.binds).map((c) => c.limit), constraints };
    },
  ),

  /** The tuner's bottleneck detection over [from, to) (default its own window, the last 15 minutes). */
  bottlenecks: rest(
    'GET',
    '/api/performance-metrics/bottlenecks',
    windowOnly,
    async (ctx: OperationsContext, { query }) => {
      const tuner = tunerOf(ctx);
      const w = windowOf(query, tuner.windowSeconds * 1000, DAY_MS);
      const observation = await observe(tuner, w);
      return { from: new Date(observation.from), to: new Date(observation.to), items: detectBottlenecks(observation, tuner.law?.thresholds) };
    },
  ),

  /** The tuner's applied changes, newest first: the older `/tuning/history` under /api. */
  tuningHistory: {
    method: 'GET',
    path: '/api/tuning/history',
    handle: (ctx, request) => apiRoutes.tuningHistory.handle(ctx.db, request),
  } satisfies RestRoute<OperationsContext>,

  /** A dry run of the tuner now: `recommendations` is what `batchflow tune --json` prints. */
  recommendations: rest('GET', '/api/tuning/recommendations', z.object({ path: none, query: none }), async (ctx: OperationsContext) => {
    const run = await runTuner(tunerOf(ctx), { apply: false, now: new Date() });
    return { at: run.at, settings: run.settings, recommendations: run.recommendations, bottlenecks: run.bottlenecks };
  }),

  /**
   * `batchflow tune --apply`: runs the tuner now and applies what it recommends (within its bounds
   * and cooldowns), recording each change in the tuning history. There is no run lock: a
   * scheduled run at the same moment would see the same cooldown and change the same levers.
   */
  apply: rest('POST', '/api/tuning/apply', z.object({ path: none, query: none }), async (ctx: OperationsContext) => {
    const run = await runTuner(tunerOf(ctx), { apply: true, now: new Date() });
    return { at: run.at, settings: run.settings, applied: run.applied, recommendations: run.recommendations, bottlenecks: run.bottlenecks, measured: run.measured };
  }),
} satisfies Record<string, RestRoute<OperationsContext>>;
