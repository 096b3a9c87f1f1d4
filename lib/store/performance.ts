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
