import type { Db, Tx } from './db.ts';
import { pageOf, type KeysetPage } from './paging.ts';

/** One measurement of a component, as `performance_metrics` keeps it. */
export interface PerformanceMetric {
  readonly component: string;
  readonly name: string;
  readonly value: number;
  readonly jobId?: number;
  readonly partitionIdx?: number;
}

/** Stores measurements inside the caller's transaction (the processor's merge transaction). */
export async function insertPerformanceMetrics(tx: Tx, db: Db, metrics: readonly PerformanceMetric[]): Promise<void> {
  if (metrics.length === 0) return;
  const rows = metrics.map((m) => ({
    component: m.component,
    metric_name: m.name,
    metric_value: m.value,
    job_id: m.jobId ?? null,
    partition_idx: m.partitionIdx ?? null,
  }));
  await tx`insert into ${db.table('performance_metrics')} ${tx(rows)}`;
}

/** Per metric of a component, the sum, average and count of its values in [from, to). */
export async function summarizePerformance(
  db: Db,
  component: string,
  from: Date,
  to: Date,
): Promise<{ name: string; count: number; sum: number; avg: number; max: number }[]> {
  return db.sql`
    select metric_name as name, count(*)::int as count, sum(metric_value) as sum, avg(metric_value) as avg, max(metric_value) as max
    from ${db.table('performance_metrics')}
    where component = ${component} and recorded_at >= ${from} and recorded_at < ${to}
    group by metric_name order by metric_name`;
}

/** A tuned setting's value, or undefined when the tuner never set it. */
export async function getTunedSetting(db: Db, parameter: string): Promise<number | undefined> {
  const [row] = await db.sql`select value from ${db.table('tuned_settings')} where parameter = ${parameter}`;
  return row ? Number(row.value) : undefined;
}

/** Sets a tuned setting (the splitter reads `partitionBytes` from here). */
export async function putTunedSetting(db: Db, parameter: string, value: number): Promise<void> {
  await db.sql`
    insert into ${db.table('tuned_settings')} (parameter, value) values (${parameter}, ${value})
    on conflict (parameter) do update set value = excluded.value, updated_at = clock_timestamp()`;
}

/** One applied change, as `tuning_history` keeps it. */
export interface TuningChange {
  readonly id: number;
  readonly parameter: string;
  readonly oldValue: number | null;
  readonly newValue: number | null;
  readonly reason: string;
  readonly evidence: unknown;
  readonly appliedAt: Date;
  readonly effectiveness: number | null;
  readonly effectivenessDetail: string | null;
}

/** Records a change the tuner applied, with the evidence it acted on. */
export async function recordTuningChange(
  db: Db,
  change: { parameter: string; oldValue: number | null; newValue: number | null; reason: string; evidence: unknown; appliedAt: Date },
): Promise<number> {
  const [row] = await db.sql`
    insert into ${db.table('tuning_history')} (parameter, old_value, new_value, reason, evidence, applied_at)
    values (${change.parameter}, ${change.oldValue}, ${change.newValue}, ${change.reason},
            ${db.sql.json(change.evidence as never)}, ${change.appliedAt})
    returning id`;
  return Number(row.id);
}

/** Changes applied before `appliedBefore` whose effectiveness is not measured yet, oldest first. */
export async function unmeasuredTuningChanges(db: Db, appliedBefore: Date): Promise<TuningChange[]> {
  return db.sql<TuningChange[]>`
    select id, parameter, old_value as "oldValue", new_value as "newValue", reason, evidence,
           applied_at as "appliedAt", effectiveness, effectiveness_detail as "effectivenessDetail"
    from ${db.table('tuning_history')}
    where effectiveness is null and applied_at < ${appliedBefore}
    order by applied_at, id`;
}

/** Stores how a change worked out. */
export async function recordTuningEffectiveness(db: Db, id: number, effectiveness: number, detail: string): Promise<void> {
  await db.sql`
    update ${db.table('tuning_history')}
    set effectiveness = ${effectiveness}, effectiveness_detail = ${detail}, measured_at = clock_timestamp()
    where id = ${id}`;
}

/** The newest changes, newest first; and the time of each parameter's last change (the cooldown). */
export async function listTuningHistory(db: Db, limit = 50): Promise<TuningChange[]> {
  return db.sql<TuningChange[]>`
    select id, parameter, old_value as "oldValue", new_value as "newValue", reason, evidence,
           applied_at as "appliedAt", effectiveness, effectiveness_detail as "effectivenessDetail"
    from ${db.table('tuning_history')}
    order by applied_at desc, id desc limit ${limit}`;
}

/** Where a change stands in the history's order: applied_at in microseconds since the epoch, and id. */
export type TuningKey = readonly [appliedAtMicros: number, id: number];

/**
 * A page of the history, newest first, older than `before` (the previous page's last). The key
 * carries applied_at in whole microseconds: a JS Date would round away Postgres's precision and
 * repeat or skip rows.
 */
export async function pageTuningHistory(db: Db, page: { limit: number; before?: TuningKey }): Promise<KeysetPage<TuningChange, TuningKey>> {
  const { sql } = db;
  const micros = sql`(extract(epoch from applied_at) * 1000000)::bigint`;
  const rows = await sql<(TuningChange & { appliedAtMicros: number })[]>`
    select id, parameter, old_value as "oldValue", new_value as "newValue", reason, evidence,
           applied_at as "appliedAt", effectiveness, effectiveness_detail as "effectivenessDetail",
           ${micros} as "appliedAtMicros"
    from ${db.table('tuning_history')}
    ${page.before ? sql`where (${micros}, id) < (${page.before[0]}::bigint, ${page.before[1]}::bigint)` : sql``}
    order by applied_at desc, id desc limit ${page.limit + 1}`;
  const located = pageOf(rows, page.limit, (r): TuningKey => [r.appliedAtMicros, r.id]);
  return { items: located.items.map(({ appliedAtMicros: _m, ...change }) => change), next: located.next };
}

/** When each parameter was last changed (epoch ms): the control law's cooldown reads it. */
export async function lastTuningChanges(db: Db): Promise<Record<string, number>> {
  const rows = await db.sql<{ parameter: string; at: Date }[]>`
    select parameter, max(applied_at) as at from ${db.table('tuning_history')} group by parameter`;
  return Object.fromEntries(rows.map((r) => [r.parameter, r.at.getTime()]));
}

/** One stored measurement, as the API lists them. */
export interface PerformanceMetricRow {
  readonly id: number;
  readonly component: string;
  readonly metric: string;
  readonly value: number;
  readonly recordedAt: Date;
  readonly jobId: number | null;
  readonly partitionIdx: number | null;
}

/** Measurements, newest first, before id `before`, filtered by job, component, metric and time. */
export async function pagePerformanceMetrics(
  db: Db,
  page: { limit: number; before?: number; jobId?: number; component?: string; metric?: string; from?: Date; to?: Date },
): Promise<KeysetPage<PerformanceMetricRow, number>> {
  const { sql } = db;
  const rows = await sql<PerformanceMetricRow[]>`
    select id::int as id, component, metric_name as metric, metric_value as value, recorded_at as "recordedAt",
           job_id::int as "jobId", partition_idx as "partitionIdx"
    from ${db.table('performance_metrics')}
    where true
      ${page.before === undefined ? sql`` : sql`and id < ${page.before}`}
      ${page.jobId === undefined ? sql`` : sql`and job_id = ${page.jobId}`}
      ${page.component === undefined ? sql`` : sql`and component = ${page.component}`}
      ${page.metric === undefined ? sql`` : sql`and metric_name = ${page.metric}`}
      ${page.from === undefined ? sql`` : sql`and recorded_at >= ${page.from}`}
      ${page.to === undefined ? sql`` : sql`and recorded_at < ${page.to}`}
    order by id desc limit ${page.limit + 1}`;
  return pageOf(rows, page.limit, (r) => r.id);
}

/** How a set of ingestion jobs performed: what the API's performance summary answers. */
export interface PerformanceSummary {
  readonly jobs: number;
  readonly records: number;
  readonly rejected: number;
  readonly bytes: number;
  /** From the first job's creation to the last one's end (or now, while one runs). */
  readonly wallMs: number;
  readonly recordsPerSecond: number;
  readonly rejectRate: number;
  readonly partitions: { readonly done: number; readonly failed: number; readonly errorRate: number };
  /** Partition latency, start of the attempt that completed it to its completion, in ms. */
  readonly partitionLatencyMs: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  /** Time spent per stage, summed over partitions (processors run in parallel, so it exceeds wall time). */
  readonly stageMs: { readonly split: number; readonly read: number; readonly parse: number; readonly merge: number };
}

/** The summary of one job, or of every job created in [from, to). */
export async function summarizeIngestion(db: Db, scope: { jobId: number } | { from: Date; to: Date }): Promise<PerformanceSummary> {
  const { sql } = db;
  const jobs = 'jobId' in scope ? sql`job_id = ${scope.jobId}` : sql`created_at >= ${scope.from} and created_at < ${scope.to}`;
  const [row] = await sql`
    with j as (select * from ${db.table('batch_jobs')} where ${jobs}),
    p as (select pt.* from ${db.table('batch_partitions')} pt join j using (job_id))
    select
      (select count(*)::int from j) as jobs,
      (select coalesce(sum(records_read), 0)::float8 from j) as records,
      (select coalesce(sum(records_rejected), 0)::float8 from j) as rejected,
      (select coalesce(sum(bytes_read), 0)::float8 from j) as bytes,
      (select extract(epoch from (coalesce(max(finished_at), clock_timestamp()) - min(created_at))) * 1000 from j) as wall_ms,
      (select count(*) filter (where status = 'completed')::int from p) as done,
      (select count(*) filter (where status = 'failed')::int from p) as failed,
      (select percentile_cont(array[0.5, 0.95, 0.99]) within group (order by extract(epoch from (completed_at - started_at)) * 1000)
         from p where status = 'completed' and started_at is not null) as latency,
      (select coalesce(sum(split_ms), 0) from j) as split_ms,
      (select coalesce(sum(read_ms), 0) from j) as read_ms,
      (select coalesce(sum(parse_ms), 0) from j) as parse_ms,
      (select coalesce(sum(merge_ms), 0) from j) as merge_ms`;
  const r = row!;
  const wallMs = Number(r.wall_ms ?? 0);
  const records = Number(r.records);
  const latency = (r.latency as number[] | null) ?? [null, null, null];
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    jobs: r.jobs,
    records,
    rejected: Number(r.rejected),
    bytes: Number(r.bytes),
    wallMs: Math.round(wallMs),
    recordsPerSecond: wallMs > 0 ? Math.round((records * 1000) / wallMs) : 0,
    rejectRate: records > 0 ? Number(r.rejected) / records : 0,
    partitions: { done: r.done, failed: r.failed, errorRate: r.done + r.failed > 0 ? r.failed / (r.done + r.failed) : 0 },
    partitionLatencyMs: { p50: round(latency[0] ?? null), p95: round(latency[1] ?? null), p99: round(latency[2] ?? null) },
    stageMs: { split: Number(r.split_ms), read: Number(r.read_ms), parse: Number(r.parse_ms), merge: Number(r.merge_ms) },
  };
}
