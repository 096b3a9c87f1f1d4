import { getDataset } from '../store/datasets.ts';
import type { Db } from '../store/db.ts';
import {
  finishRun,
  getAnalyticsJob,
  replaceWindowResults,
  staleWindows,
  startRun,
} from '../store/analytics.ts';
import { filterToSql } from '../store/filterSql.ts';
import { readWindow } from '../store/rollups.ts';
import { BatchflowError } from '../errors.ts';
import { aggregate, planAnalyticsJob, type AnalyticsJobPlan } from './rollupPlan.ts';
import type { ResultRow } from './results.ts';
import { windowFor, type Window } from './windows.ts';

/** A job that cannot run: unknown, or its dataset is gone. */
export class JobRunError extends BatchflowError {
  override name = 'JobRunError';
}

export type RunTrigger = 'schedule' | 'manual';

/** What one run computed and wrote. */
export interface RunOutcome {
  readonly job: string;
  readonly trigger: RunTrigger;
  readonly fireTime: Date;
  readonly status: 'succeeded' | 'skipped';
  /** Every window (re)computed, oldest first: late-data windows, missed windows, then the fired one. */
  readonly windows: readonly Window[];
  readonly rows: readonly ResultRow[];
  readonly durationMs: number;
}

/** Windows missed while the system was down are caught up, but never more than this per run. */
const MAX_CATCH_UP_WINDOWS = 1000;

/** How a run may be tuned or observed; the defaults are what the schedule uses. */
export interface RunOptions {
  /** Missed windows computed per run at most (default 1000). */
  readonly maxCatchUpWindows?: number;
  /**
   * Called after a window's rollups are read and before its results are written: the seam where
   * another transaction (a late partition's merge) can be interleaved, so races are testable.
   */
  readonly betweenReadAndWrite?: (window: Window) => Promise<void>;
}

/**
 * Runs a job as if its schedule fired at `fireTime`: computes the window that ended at or before
 * fireTime − delay, first catching up the windows missed since the last run and recomputing the
 * windows late data made stale — oldest first, each replacing its previous results (idempotent).
 * Results are merged from the ingestion rollups in SQL; raw data is never rescanned.
 */
export async function runAnalyticsJob(db: Db, name: string, fireTime: Date, trigger: RunTrigger, options: RunOptions = {}): Promise<RunOutcome> {
  const started = performance.now();
  const stored = await getAnalyticsJob(db, name);
  if (!stored) throw new JobRunError(`no analytics job named "${name}"`);
  const job = stored.definition;
  if (!job.enabled && trigger === 'schedule') {
    return { job: name, trigger, fireTime, status: 'skipped', windows: [], rows: [], durationMs: 0 };
  }
  const dataset = await getDataset(db, job.dataset);
  if (!dataset) throw new JobRunError(`job "${name}": dataset "${job.dataset}" does not exist`);
  const plan = planAnalyticsJob(job, dataset);

  const target = windowFor(fireTime, job.granularity, job.delayHours);
  const windows = new Map<number, Window>();
  for (const w of await staleWindows(db, name)) windows.set(w.start.getTime(), w);
  if (stored.lastWindowEnd && stored.lastWindowEnd < target.start) {
    const missed = (target.start.getTime() - stored.lastWindowEnd.getTime()) / plan.granularityMs;
    // Oldest first: the catch-up mark only advances over contiguous windows, so the rest are the
    // next run's (skipping the oldest would lose them for good).
    const count = Math.min(missed, options.maxCatchUpWindows ?? MAX_CATCH_UP_WINDOWS);
    for (let i = 0; i < count; i++) {
      const start = stored.lastWindowEnd.getTime() + i * plan.granularityMs;
      windows.set(start, { start: new Date(start), end: new Date(start + plan.granularityMs) });
    }
  }
  windows.set(target.start.getTime(), target);
  const ordered = [...windows.values()].sort((a, b) => a.start.getTime() - b.start.getTime());

  const runId = await startRun(db, { job: name, trigger, fireTime });
  const written: ResultRow[] = [];
  try {
    for (const window of ordered) {
      // Read and write in one transaction under the dataset's analytics lock: a partition merging
      // meanwhile either is in the read or marks the written window stale.
      const rows = await replaceWindowResults(db, name, window, async (reader) => {
        const computed = await computeWindow(reader, plan, window);
        await options.betweenReadAndWrite?.(window);
        return computed;
      });
      for (const r of rows) written.push({ job: name, windowStart: window.start, windowEnd: window.end, ...r });
    }
  } catch (err) {
    await finishRun(db, runId, { status: 'failed', rows: written.length, durationMs: performance.now() - started, windows: ordered, error: (err as Error).message });
    throw err;
  }
  const durationMs = performance.now() - started;
  await finishRun(db, runId, { status: 'succeeded', rows: written.length, durationMs, windows: ordered });
  return { job: name, trigger, fireTime, status: 'succeeded', windows: ordered, rows: written, durationMs };
}

/** One window's result rows: per entity, metric and aggregation. */
async function computeWindow(db: Db, plan: AnalyticsJobPlan, window: Window): Promise<Omit<ResultRow, 'job' | 'windowStart' | 'windowEnd'>[]> {
  const cells = await readWindow(db, {
    dataset: plan.job.dataset,
    rollup: plan.rollupKey,
    metrics: plan.job.metrics.map((m) => m.metric),
    start: window.start,
    end: window.end,
    entityIndex: plan.entityIndex,
    where: plan.filter ? filterToSql(plan.filter, db.sql, (dim) => plan.rollup.indexOf(dim)) : undefined,
  });
  const rows: Omit<ResultRow, 'job' | 'windowStart' | 'windowEnd'>[] = [];
  for (const cell of cells) {
    const spec = plan.job.metrics.find((m) => m.metric === cell.metric)!;
    for (const aggregation of spec.aggregations) {
      rows.push({ entity: cell.entity, metric: cell.metric, aggregation, value: aggregate(cell, aggregation) });
    }
  }
  return rows;
}
