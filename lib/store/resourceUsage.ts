import type { Db } from './db.ts';
import { pageOf, type KeysetPage } from './paging.ts';

/** What one invocation used, as the recorder measured it (lib/adapters/resourceUsageRecorder.ts). */
export interface ResourceUsageSample {
  /** The topology name: splitter, processor, analytics, compactor, ... */
  readonly function: string;
  readonly requestId: string;
  readonly startedAt: Date;
  readonly durationMs: number;
  /** false when the handler threw. */
  readonly succeeded: boolean;
  /** The process's (on Lambda: the container's) memory high-water mark so far, MiB. */
  readonly maxRssMib: number;
  /** The function's configured memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), when known. */
  readonly memoryMb: number | null;
  /** This container's connection pool size. */
  readonly poolCap: number;
  /** The partition queue's approximate counts, when sampled for this invocation. */
  readonly queueVisible: number | null;
  readonly queueInFlight: number | null;
}

/**
 * Stores one invocation's usage in one statement: the database's connections in use (sessions of
 * this database and user) and its max_connections are read by the insert itself, not by another
 * round trip.
 */
export async function insertResourceUsage(db: Db, s: ResourceUsageSample): Promise<void> {
  const { sql } = db;
  await sql`
    insert into ${db.table('resource_usage')}
      (function, request_id, started_at, duration_ms, succeeded, max_rss_mib, memory_mb, pool_cap,
       queue_visible, queue_in_flight, db_connections, max_connections)
    select ${s.function}, ${s.requestId}, ${s.startedAt}::timestamptz, ${s.durationMs}::float8, ${s.succeeded}::boolean,
           ${s.maxRssMib}::float8, ${s.memoryMb}::int, ${s.poolCap}::int, ${s.queueVisible}::int, ${s.queueInFlight}::int,
           (select count(*)::int from pg_stat_activity where datname = current_database() and usename = current_user),
           current_setting('max_connections')::int`;
}

/** One stored row, as the API lists it. */
export interface ResourceUsageRow extends ResourceUsageSample {
  readonly id: number;
  readonly dbConnections: number | null;
  readonly maxConnections: number | null;
}

/** Rows newest first (by id), before id `before`, filtered by function and by started_at in [from, to). */
export async function pageResourceUsage(
  db: Db,
  page: { limit: number; before?: number; function?: string; from?: Date; to?: Date },
): Promise<KeysetPage<ResourceUsageRow, number>> {
  const { sql } = db;
  const rows = await sql<ResourceUsageRow[]>`
    select id, function, request_id as "requestId", started_at as "startedAt", duration_ms as "durationMs", succeeded,
           max_rss_mib as "maxRssMib", memory_mb as "memoryMb", pool_cap as "poolCap", queue_visible as "queueVisible",
           queue_in_flight as "queueInFlight", db_connections as "dbConnections", max_connections as "maxConnections"
    from ${db.table('resource_usage')}
    where true
      ${page.before === undefined ? sql`` : sql`and id < ${page.before}`}
      ${page.function === undefined ? sql`` : sql`and function = ${page.function}`}
      ${page.from === undefined ? sql`` : sql`and started_at >= ${page.from}`}
      ${page.to === undefined ? sql`` : sql`and started_at < ${page.to}`}
    order by id desc limit ${page.limit + 1}`;
  return pageOf(rows, page.limit, (r) => r.id);
}

/** One function's usage over a window: what GET /api/resource-usage/summary answers per function. */
export interface FunctionUsage {
  readonly function: string;
  readonly invocations: number;
  readonly failed: number;
  readonly durationMs: { readonly p50: number; readonly p95: number; readonly max: number };
  /** The most invocations of this function that ran at the same time (overlapping [start, start + duration)). */
  readonly peakConcurrency: number;
  /** Highest high-water mark vs the configured memory (share: null when the configuration is unknown). */
  readonly memory: { readonly maxRssMib: number; readonly configuredMb: number | null; readonly share: number | null };
  /** Most sessions in use vs this function's pool size and the server's max_connections. */
  readonly connections: { readonly maxInUse: number | null; readonly poolCap: number; readonly maxConnections: number | null };
  /** Largest partition queue counts sampled (null: never sampled). */
  readonly queue: { readonly maxVisible: number | null; readonly maxInFlight: number | null };
}

/** Per function (by name), the usage of the invocations started in [from, to). */
export async function summarizeResourceUsage(db: Db, window: { from: Date; to: Date }): Promise<FunctionUsage[]> {
  const { sql } = db;
  const rows = await sql`
    with r as (select * from ${db.table('resource_usage')} where started_at >= ${window.from} and started_at < ${window.to}),
    -- A sweep over starts (+1) and ends (-1); at equal times ends go first, so back-to-back runs are not overlap.
    ev as (
      select function, started_at as t, 1 as d from r
      union all
      select function, started_at + duration_ms * interval '1 millisecond', -1 from r
    ),
    running as (select function, sum(d) over (partition by function order by t, d rows unbounded preceding) as n from ev),
    peak as (select function, max(n)::int as peak from running group by function)
    select r.function, count(*)::int as invocations, (count(*) filter (where not succeeded))::int as failed,
           percentile_cont(0.5) within group (order by duration_ms) as p50,
           percentile_cont(0.95) within group (order by duration_ms) as p95,
           max(duration_ms) as max_duration, max(max_rss_mib) as max_rss, max(memory_mb) as memory_mb,
           max(db_connections) as max_in_use, max(pool_cap) as pool_cap, max(max_connections) as max_connections,
           max(queue_visible) as max_visible, max(queue_in_flight) as max_in_flight, max(peak.peak) as peak
    from r join peak using (function)
    group by r.function order by r.function`;
  return rows.map((r) => {
    const configuredMb = r.memory_mb === null ? null : Number(r.memory_mb);
    const maxRssMib = Number(r.max_rss);
    return {
      function: r.function,
      invocations: r.invocations,
      failed: r.failed,
      durationMs: { p50: Number(r.p50), p95: Number(r.p95), max: Number(r.max_duration) },
      peakConcurrency: Number(r.peak),
      memory: { maxRssMib, configuredMb, share: configuredMb ? maxRssMib / configuredMb : null },
      connections: { maxInUse: r.max_in_use, poolCap: r.pool_cap, maxConnections: r.max_connections },
      queue: { maxVisible: r.max_visible, maxInFlight: r.max_in_flight },
    };
  });
}
