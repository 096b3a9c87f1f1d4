import type { WindowCell } from '../analytics/rollupPlan.ts';
import type { CellStatistics } from '../rollup/aggregator.ts';
import { SKETCH_KEY_BIAS } from '../rollup/sketch.ts';
import type postgres from 'postgres';
import type { Db, Tx } from './db.ts';
import { datasetDeletionLock } from './datasets.ts';
import { compactableJobs } from './ingestJobs.ts';

/**
 * The ON CONFLICT clause adding an incoming cell (`excluded`) to the stored one (`r`): counts and
 * sums add, extremes widen, mean and M2 by Chan's formula, sketches bin by bin.
 */
function mergeIntoExisting(db: Db) {
  return db.sql`
    on conflict (dataset, rollup, bucket_start, dims, metric) do update set
      count = r.count + excluded.count,
      sum = r.sum + excluded.sum,
      min = least(r.min, excluded.min),
      max = greatest(r.max, excluded.max),
      mean = case when r.count + excluded.count = 0 then 0
                  else r.mean + (excluded.mean - r.mean) * excluded.count / (r.count + excluded.count) end,
      m2 = case when r.count + excluded.count = 0 then 0
                else r.m2 + excluded.m2
                     + (excluded.mean - r.mean) ^ 2 * r.count::float8 * excluded.count / (r.count + excluded.count) end,
      sketch = ${db.sql(`${db.schema}.sketch_merge`)}(r.sketch, excluded.sketch)`;
}

/** One merged group of cells: moments merged with Chan's formula, sketches by adding bins. */
export interface MergedCell extends Readonly<CellStatistics> {
  readonly bucketStart: Date;
  readonly dims: string[];
  readonly metric: string;
}

/**
 * Merges the cells selected by `cells` (columns: the `keys`, count, sum, min, max, mean, m2,
 * sketch) per key: counts and sums add, mean is the count-weighted mean, M2 = Σ M2ᵢ +
 * Σ nᵢ(meanᵢ − mean)² (the k-way form of Chan's formula: no cancellation), sketches add bin by bin.
 */
function mergeCells(db: Db, cells: postgres.PendingQuery<postgres.Row[]>, keys: postgres.PendingQuery<postgres.Row[]>) {
  const { sql } = db;
  return sql`
    with cells as (${cells}), weighted as (
      select *, coalesce(sum(mean * count) over w / nullif(sum(count) over w, 0), 0) as group_mean
      from cells window w as (partition by ${keys})
    )
    select ${keys}, sum(count)::float8 as count, sum(sum) as sum, min(min) as min, max(max) as max,
           group_mean as mean, sum(m2 + count * (mean - group_mean) ^ 2) as m2,
           -- One row (the usual case at high cardinality): its sketch as it is, no bin-by-bin sum.
           case when count(*) = 1 then (array_agg(sketch))[1] else ${sql(`${db.schema}.sketch_sum`)}(array_agg(sketch)) end as sketch
    from weighted
    group by ${keys}, group_mean`;
}

/**
 * One metric's piece of partial row `p`: the metric at position `m.i` of `p.metrics` (see the
 * layouts in migrations 10 and 18): metric, count, sum, min, max, mean, m2, sketch. A single-value
 * row (sketches null) becomes the full form its value would have had: count 1 (0 without a value),
 * sum and mean the value + 0 (as the aggregator's 0 + x: −0 gives 0), min and max the value, M2 0,
 * and the sketch of its one bucket, named as sketch.ts names it (SKETCH_KEY_BIAS).
 */
function partialPieces(sql: postgres.Sql) {
  const value = sql`p.stats[m.i::int]`;
  const bucket = sql`p.stats[cardinality(p.metrics) + m.i::int]::bigint`;
  const bias = sql`${SKETCH_KEY_BIAS}::bigint`;
  const full = (k: number) => sql`p.stats[6 * m.i::int - ${5 - k}::int]`;
  const either = (single: postgres.PendingQuery<postgres.Row[]>, k: number) => sql`case when p.sketches is null then ${single} else ${full(k)} end`;
  return sql`
    m.metric, ${either(sql`(${value} is not null)::int::float8`, 0)}::bigint as count, ${either(sql`coalesce(${value} + 0, 0)`, 1)} as sum,
    ${either(value, 2)} as min, ${either(value, 3)} as max, ${either(sql`coalesce(${value} + 0, 0)`, 4)} as mean, ${either(sql`0::float8`, 5)} as m2,
    case when p.sketches is not null then p.sketches -> (m.i::int - 1)
         when ${value} is null then '{}'::jsonb
         else jsonb_build_object(case when ${bucket} > 0 then 'p' || (${bucket} - ${bias}) when ${bucket} < 0 then 'n' || (-${bucket} - ${bias}) else 'z' end, 1)
    end as sketch`;
}

/**
 * A rollup's cells as stored, compacted and partial alike, one row per (bucket_start, dims, metric)
 * piece: columns bucket_start, dims, metric, count, sum, min, max, mean, m2, sketch. A piece is
 * only part of a cell; mergeCells adds the pieces up. `condition` (over bucket_start and dims)
 * applies to both tables, and Postgres pushes it into each scan. One statement reads both, so it
 * sees a compaction either wholly done or not at all.
 */
function storedCells(
  db: Db,
  q: { dataset: string; rollup: string; metrics: readonly string[] },
  condition: postgres.PendingQuery<postgres.Row[]>,
) {
  const { sql } = db;
  const metrics = q.metrics as string[];
  return sql`
    select * from (
      select bucket_start, dims, metric, count, sum, min, max, mean, m2, sketch
      from ${db.table('rollups')}
      where dataset = ${q.dataset} and rollup = ${q.rollup} and metric = any(${metrics}::text[])
      union all
      select p.bucket_start, p.dims, ${partialPieces(sql)}
      from ${db.table('rollup_partials')} p
      cross join lateral unnest(p.metrics) with ordinality as m(metric, i)
      where p.dataset = ${q.dataset} and p.rollup = ${q.rollup} and m.metric = any(${metrics}::text[])
    ) stored
    where ${condition}`;
}

/**
 * Reads a rollup re-bucketed to `strideMs` (a multiple of the base granularity), merged in SQL.
 * Buckets whose start lies in [from, to) are returned.
 */
export async function readRollup(
  db: Db,
  q: { dataset: string; rollup: string; metrics: readonly string[]; strideMs: number; originIso: string; from?: Date; to?: Date },
): Promise<MergedCell[]> {
  const { sql } = db;
  const bucket = sql`date_bin(make_interval(secs => ${q.strideMs / 1000}), bucket_start, ${q.originIso}::timestamptz)`;
  const from = q.from ? sql`${bucket} >= ${q.from}::timestamptz` : sql`true`;
  const to = q.to ? sql`bucket_start < ${q.to}::timestamptz` : sql`true`;
  const cells = sql`
    select ${bucket} as b, dims, metric, count, sum, min, max, mean, m2, sketch
    from (${storedCells(db, q, sql`${from} and ${to}`)}) cells`;
  const rows = await sql`
    select b as "bucketStart", dims, metric, count, sum, min, max, mean, m2, sketch
    from (${mergeCells(db, cells, sql`b, dims, metric`)}) merged
    order by b, dims collate "C", metric collate "C"`;
  return rows as unknown as MergedCell[];
}

/**
 * Merges a rollup over the window [start, end), per value of the dimension at `entityIndex`
 * (0-based in the rollup's dims; null: one total), keeping only cells that satisfy `where` (a
 * fragment over `dims`, built by the filter parser — never from raw user text).
 */
export async function readWindow(
  db: Db,
  q: {
    dataset: string;
    rollup: string;
    metrics: readonly string[];
    start: Date;
    end: Date;
    entityIndex: number | null;
    where?: postgres.PendingQuery<postgres.Row[]>;
  },
): Promise<WindowCell[]> {
  const { sql } = db;
  // Postgres arrays are 1-based; the index is an integer of our own, passed as a parameter.
  const entity = q.entityIndex === null ? sql`''::text` : sql`dims[${q.entityIndex + 1}::int]`;
  const window = sql`bucket_start >= ${q.start}::timestamptz and bucket_start < ${q.end}::timestamptz and (${q.where ?? sql`true`})`;
  const cells = sql`
    select ${entity} as entity, metric, count, sum, min, max, mean, m2, sketch
    from (${storedCells(db, q, window)}) cells`;
  const rows = await sql`
    select * from (${mergeCells(db, cells, sql`entity, metric`)}) merged
    order by entity collate "C", metric collate "C"`;
  return rows as unknown as WindowCell[];
}

/**
 * The compactor's unit of work: a dataset's partial rows of one rollup and one key-hash shard whose
 * buckets start in one time range. Different shards hold different cells, so compactors of different shards never
 * touch the same rows.
 */
export interface CompactionShard {
  readonly dataset: string;
  readonly rollup: string;
  readonly shard: number;
  /** The time range: buckets starting in [origin + 28·range days, origin + 28·(range + 1) days). */
  readonly range: number;
  readonly originIso: string;
  /** Partial rows it held when listed. */
  readonly rows: number;
}

/**
 * The jobs whose partial rows stay where they are: running, or ended in a state they can leave and
 * then still fail on their reject threshold, which deletes their partial rows (ingestJobs.ts
 * finishIngestJobIfDone). Read once per statement: few jobs are running at a time.
 */
function heldJobs(db: Db, tx: Tx | Db['sql']) {
  return tx`array(select j.job_id from ${db.table('batch_jobs')} j where not ${compactableJobs(tx)})`;
}

/** The time ranges of compaction shards: 28 days, from the bucket origin (a Monday). */
const COMPACTION_RANGE_DAYS = 28;

/**
 * The shards that hold partial rows of jobs that ended (heldJobs), oldest range first (of one dataset, or all). Ranges are
 * numbered in SQL and never go through a JavaScript Date: a bucket in year 1 (or BC, after
 * rounding down) is a range like any other.
 */
export async function pendingCompactionShards(db: Db, originIso: string, dataset?: string): Promise<CompactionShard[]> {
  const { sql } = db;
  const range = sql`floor((extract(epoch from bucket_start) - extract(epoch from ${originIso}::timestamptz)) / ${COMPACTION_RANGE_DAYS * 86_400})::int`;
  const rows = await sql<{ dataset: string; rollup: string; shard: number; range: number; rows: number }[]>`
    select dataset, rollup, shard, ${range} as range, count(*)::int as rows
    from ${db.table('rollup_partials')}
    where ${dataset === undefined ? sql`true` : sql`dataset = ${dataset}`} and job_id <> all(${heldJobs(db, sql)})
    -- By position: the range expression's parameters are new ones each time it is written.
    group by 1, 2, 3, 4
    order by 4, 1, 2, 3`;
  return rows.map((r) => ({ ...r, originIso }));
}

/**
 * Compacts one shard in one transaction: deletes its partial rows of jobs that ended (heldJobs),
 * merges them per cell (as queries do) and adds each cell to its compacted row in `rollups`. A crash anywhere rolls all of it back,
 * leaving the partial rows where they were; rows appended after the statement began are left for
 * the next pass. null when another compactor holds the shard, or the dataset is being deleted
 * (transaction-scoped advisory locks, taken without waiting).
 */
export async function compactShard(db: Db, shard: CompactionShard): Promise<{ rows: number; cells: number } | null> {
  return db.sql.begin(async (tx) => {
    // Ranges span ±2^31 / 64 = ±33M (over 2 million years either side of the origin).
    const key = shard.range * 64 + shard.shard;
    const [lock] = await tx<{ locked: boolean }[]>`
      select pg_try_advisory_xact_lock(hashtext(${`${db.schema}/compact/${shard.dataset}/${shard.rollup}`}), ${key}::int) as locked`;
    if (!lock.locked) return null;
    const [open] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock_shared(${datasetDeletionLock(db, shard.dataset)}) as locked`;
    if (!open.locked) return null;
    const from = tx`${shard.originIso}::timestamptz + make_interval(days => ${COMPACTION_RANGE_DAYS * shard.range}::int)`;
    const to = tx`${shard.originIso}::timestamptz + make_interval(days => ${COMPACTION_RANGE_DAYS * (shard.range + 1)}::int)`;
    const pieces = tx`
      select p.rollup, p.bucket_start, p.dims, ${partialPieces(db.sql)}
      from moved p cross join lateral unnest(p.metrics) with ordinality as m(metric, i)`;
    const [result] = await tx<{ rows: number; cells: number }[]>`
      with moved as (
        delete from ${db.table('rollup_partials')}
        where dataset = ${shard.dataset} and rollup = ${shard.rollup} and shard = ${shard.shard}
          and bucket_start >= ${from} and bucket_start < ${to} and job_id <> all(${heldJobs(db, tx)})
        returning rollup, bucket_start, dims, metrics, stats, sketches
      ), merged as (
        ${mergeCells(db, pieces, tx`rollup, bucket_start, dims, metric`)}
      ), written as (
        insert into ${db.table('rollups')} as r
          (dataset, rollup, bucket_start, dims, metric, count, sum, min, max, mean, m2, sketch)
        select ${shard.dataset}, rollup, bucket_start, dims, metric, count::bigint, sum, min, max, mean, m2, sketch
        from merged
        ${mergeIntoExisting(db)}
        returning 1
      )
      select (select count(*) from moved)::int as rows, (select count(*) from written)::int as cells`;
    return result;
  });
}
