import { parseAnalyticsJobDefinition, type AnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import type { ResultRow } from '../analytics/results.ts';
import type { Window } from '../analytics/windows.ts';
import type { Db, Tx } from './db.ts';
import { pageOf, type KeysetPage } from './paging.ts';

/** A stored job and where its computation stands. */
export interface StoredAnalyticsJob {
  readonly definition: AnalyticsJobDefinition;
  readonly lastWindowEnd: Date | null;
}

/** Creates or replaces a job definition (its computed windows and results stay). */
export async function putAnalyticsJob(db: Db, job: AnalyticsJobDefinition): Promise<{ created: boolean }> {
  const { sql } = db;
  // xmax is 0 on a row this statement inserted, the updating transaction's id on one it replaced.
  const [row] = await sql`
    insert into ${db.table('analytics_jobs')} (name, definition, dataset, enabled)
    values (${job.name}, ${sql.json(job as never)}, ${job.dataset}, ${job.enabled})
    on conflict (name) do update set definition = excluded.definition, dataset = excluded.dataset,
      enabled = excluded.enabled, updated_at = clock_timestamp()
    returning (xmax = 0) as created`;
  return { created: row!.created as boolean };
}

/** A job by name. */
export async function getAnalyticsJob(db: Db, name: string): Promise<StoredAnalyticsJob | undefined> {
  const [row] = await db.sql`select definition, last_window_end from ${db.table('analytics_jobs')} where name = ${name}`;
  return row ? { definition: parseAnalyticsJobDefinition(row.definition), lastWindowEnd: row.last_window_end } : undefined;
}

/** Every job, by name. */
export async function listAnalyticsJobs(db: Db): Promise<StoredAnalyticsJob[]> {
  const rows = await db.sql`select definition, last_window_end from ${db.table('analytics_jobs')} order by name`;
  return rows.map((r) => ({ definition: parseAnalyticsJobDefinition(r.definition), lastWindowEnd: r.last_window_end }));
}

/** A page of jobs by name (code-point order), after `after` (the previous page's last name). */
export async function pageAnalyticsJobs(db: Db, page: { limit: number; after?: string }): Promise<KeysetPage<StoredAnalyticsJob & { name: string }, string>> {
  const { sql } = db;
  const rows = await sql`
    select name, definition, last_window_end from ${db.table('analytics_jobs')}
    ${page.after === undefined ? sql`` : sql`where name collate "C" > ${page.after}`}
    order by name collate "C" limit ${page.limit + 1}`;
  const jobs = rows.map((r) => ({ name: r.name as string, definition: parseAnalyticsJobDefinition(r.definition), lastWindowEnd: r.last_window_end as Date | null }));
  return pageOf(jobs, page.limit, (j) => j.name);
}

/** Deletes a job with its windows, results and runs; false when there was none. */
export async function deleteAnalyticsJob(db: Db, name: string): Promise<boolean> {
  return db.sql.begin(async (tx) => {
    // analytics_runs has no foreign key to its job (nothing cascades to it), so its rows go here.
    const result = await tx`delete from ${db.table('analytics_jobs')} where name = ${name}`;
    if (result.count > 0) await tx`delete from ${db.table('analytics_runs')} where job = ${name}`;
    return result.count > 0;
  });
}

/**
 * The job's stale windows (late data touched them after they were computed), oldest first. The
 * mark is only read here: it is cleared in the transaction that writes the window's new results,
 * so a run that fails before that leaves it for the next run.
 */
export async function staleWindows(db: Db, job: string): Promise<Window[]> {
  const rows = await db.sql<Window[]>`
    select window_start as start, window_end as "end" from ${db.table('analytics_windows')}
    where job = ${job} and stale order by window_start`;
  return [...rows];
}

type WindowRows = readonly Omit<ResultRow, 'job' | 'windowStart' | 'windowEnd'>[];

/**
 * The dataset's analytics lock, taken in a merge's transaction (shared, markWindowsStale) and in a
 * window's compute-and-write transaction (exclusive, replaceWindowResults). It makes "the rollups
 * a window read" and "the window row a merge looked for" agree: a merge that committed before the
 * window was read is in its results; any other merge looks for the window row only after the
 * window's transaction committed, finds it and marks it stale. Keyed by (schema, dataset) in the
 * two-integer key space (migrate's lock uses the one-bigint space).
 */
const datasetLockKey = (db: Db, dataset: string) => db.sql`hashtext(${db.schema}), hashtext(${dataset})`;

/**
 * Replaces a window's results in one transaction (so a re-run is idempotent), records the window as
 * computed (clearing its stale mark) and advances the job's catch-up mark — only when the window
 * continues it, so a window computed beyond a gap never hides the gap. `rows` may be a function:
 * it then reads the rollups inside the transaction, under the dataset's exclusive analytics lock
 * (see datasetLockKey); the Db it is given is bound to the transaction and may only query.
 */
export async function replaceWindowResults(
  db: Db,
  job: string,
  window: Window,
  rows: WindowRows | ((reader: Db) => Promise<WindowRows>),
): Promise<WindowRows> {
  return db.sql.begin(async (tx) => {
    const [stored] = await tx`select dataset from ${db.table('analytics_jobs')} where name = ${job}`;
    if (stored) await tx`select pg_advisory_xact_lock(${datasetLockKey(db, stored.dataset)})`;
    const written = typeof rows === 'function' ? await rows({ ...db, sql: tx as unknown as Db['sql'] }) : rows;
    await tx`delete from ${db.table('analytics_results')} where job = ${job} and window_start = ${window.start}`;
    if (written.length > 0) {
      const values = written.map((r) => ({
        job,
        window_start: window.start,
        window_end: window.end,
        entity: r.entity,
        metric: r.metric,
        aggregation: r.aggregation,
        value: r.value,
      }));
      for (let i = 0; i < values.length; i += 5000) await tx`insert into ${db.table('analytics_results')} ${tx(values.slice(i, i + 5000))}`;
    }
    await tx`
      insert into ${db.table('analytics_windows')} (job, window_start, window_end, computed_at, stale)
      values (${job}, ${window.start}, ${window.end}, clock_timestamp(), false)
      on conflict (job, window_start) do update set computed_at = clock_timestamp(), window_end = excluded.window_end, stale = false`;
    await tx`
      update ${db.table('analytics_jobs')} set last_window_end = ${window.end}
      where name = ${job} and (last_window_end is null or (last_window_end >= ${window.start} and last_window_end < ${window.end}))`;
    return written;
  });
}

/** Opens a run-log entry. */
export async function startRun(db: Db, run: { job: string; trigger: string; fireTime: Date }): Promise<number> {
  const [row] = await db.sql`
    insert into ${db.table('analytics_runs')} (job, trigger, fire_time, started_at, status)
    values (${run.job}, ${run.trigger}, ${run.fireTime}, clock_timestamp(), 'running') returning run_id`;
  return row.run_id as number;
}

/** Closes a run-log entry. */
export async function finishRun(
  db: Db,
  runId: number,
  outcome: { status: 'succeeded' | 'failed'; rows: number; durationMs: number; windows: readonly Window[]; error?: string },
): Promise<void> {
  const first = outcome.windows[0];
  const last = outcome.windows.at(-1);
  await db.sql`
    update ${db.table('analytics_runs')} set finished_at = clock_timestamp(), status = ${outcome.status}, rows = ${outcome.rows},
      duration_ms = ${outcome.durationMs}, error = ${outcome.error ?? null},
      window_start = ${first?.start ?? null}, window_end = ${last?.end ?? null}
    where run_id = ${runId}`;
}

/** Results of a job, in window order. */
export async function listResults(db: Db, job: string, range: { from?: Date; to?: Date } = {}): Promise<ResultRow[]> {
  const { sql } = db;
  return sql<ResultRow[]>`
    select job, window_start as "windowStart", window_end as "windowEnd", entity, metric, aggregation, value
    from ${db.table('analytics_results')}
    where job = ${job}
      ${range.from ? sql`and window_start >= ${range.from}` : sql``}
      ${range.to ? sql`and window_start < ${range.to}` : sql``}
    order by window_start, entity collate "C", metric collate "C", aggregation`;
}

/** Where a result row stands in window order: the table's key after the job. */
export type ResultKey = readonly [windowStart: Date, entity: string, metric: string, aggregation: string];

/**
 * A page of a job's results in window order (listResults's), after `after` (the previous page's
 * last row). Every part of the order is compared in code-point order ("C"), like the sort.
 */
export async function pageResults(
  db: Db,
  job: string,
  page: { from?: Date; to?: Date; limit: number; after?: ResultKey },
): Promise<KeysetPage<ResultRow, ResultKey>> {
  const { sql } = db;
  const a = page.after;
  const rows = await sql<ResultRow[]>`
    select job, window_start as "windowStart", window_end as "windowEnd", entity, metric, aggregation, value
    from ${db.table('analytics_results')}
    where job = ${job}
      ${page.from ? sql`and window_start >= ${page.from}` : sql``}
      ${page.to ? sql`and window_start < ${page.to}` : sql``}
      ${a ? sql`and (window_start, entity collate "C", metric collate "C", aggregation collate "C") > (${a[0]}::timestamptz, ${a[1]}::text, ${a[2]}::text, ${a[3]}::text)` : sql``}
    order by window_start, entity collate "C", metric collate "C", aggregation collate "C"
    limit ${page.limit + 1}`;
  return pageOf(rows, page.limit, (r): ResultKey => [r.windowStart, r.entity, r.metric, r.aggregation]);
}

/**
 * Marks stale the computed windows of the dataset's jobs that [from, to) overlaps: late data
 * changed them. Takes the dataset's analytics lock shared first (datasetLockKey), in a statement
 * of its own so the update's snapshot sees every window written before it was granted. Rows are
 * locked in key order (deadlock-free with concurrent processors).
 */
export async function markWindowsStale(tx: Tx, db: Db, dataset: string, from: Date, to: Date): Promise<void> {
  await tx`select pg_advisory_xact_lock_shared(${datasetLockKey(db, dataset)})`;
  await tx`
    with touched as (
      select w.job, w.window_start from ${db.table('analytics_windows')} w
      join ${db.table('analytics_jobs')} j on j.name = w.job
      where j.dataset = ${dataset} and w.window_start < ${to} and w.window_end > ${from} and not w.stale
      order by w.job, w.window_start
      for update of w
    )
    update ${db.table('analytics_windows')} w set stale = true
    from touched t where w.job = t.job and w.window_start = t.window_start`;
}

/** One run of an analytics job, as the API lists them. */
export interface AnalyticsRunRow {
  readonly runId: number;
  readonly job: string;
  readonly trigger: string;
  readonly fireTime: Date;
  readonly windowStart: Date | null;
  readonly windowEnd: Date | null;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly rows: number | null;
  readonly durationMs: number | null;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly error: string | null;
}

/** A job's runs, newest first, before run `before`. */
export async function pageRuns(db: Db, job: string, page: { limit: number; before?: number }): Promise<KeysetPage<AnalyticsRunRow, number>> {
  const { sql } = db;
  const rows = await sql<AnalyticsRunRow[]>`
    select run_id::int as "runId", job, trigger, fire_time as "fireTime", window_start as "windowStart", window_end as "windowEnd",
           started_at as "startedAt", finished_at as "finishedAt", rows, duration_ms as "durationMs", status, error
    from ${db.table('analytics_runs')}
    where job = ${job} ${page.before === undefined ? sql`` : sql`and run_id < ${page.before}`}
    order by run_id desc limit ${page.limit + 1}`;
  return pageOf(rows, page.limit, (r) => r.runId);
}
