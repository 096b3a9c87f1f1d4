/**
 * The versioned schema. Each migration is DDL for one schema; the schema name is the only thing
 * interpolated, and it is quoted as an identifier (DDL takes no parameters). Never edit an applied
 * migration: add a new one.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: (schema: string) => string;
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'datasets, jobs, partitions, rejects, rollups, sketch merge',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
create table ${s}.datasets (
  name text primary key,
  definition jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- One row per object version: (bucket, key, object_version) makes a repeated S3 event a no-op.
create table ${s}.batch_jobs (
  job_id bigint generated always as identity primary key,
  dataset text,
  bucket text not null,
  key text not null,
  object_version text not null,
  object_size bigint,
  format text,
  compression text not null default 'none',
  status text not null check (status in ('splitting', 'processing', 'completed', 'completed_with_rejects', 'failed')),
  reason text,
  partition_bytes bigint not null,
  columns text[],
  header_lines int not null default 0,
  data_start bigint not null default 0,
  partitions_total int,
  partitions_done int not null default 0,
  records_read bigint not null default 0,
  records_aggregated bigint not null default 0,
  records_rejected bigint not null default 0,
  bytes_read bigint not null default 0,
  read_ms double precision not null default 0,
  parse_ms double precision not null default 0,
  merge_ms double precision not null default 0,
  created_at timestamptz not null default now(),
  split_ms double precision,
  split_finished_at timestamptz,
  finished_at timestamptz,
  unique (bucket, key, object_version)
);

create table ${s}.batch_partitions (
  job_id bigint not null references ${s}.batch_jobs (job_id) on delete cascade,
  idx int not null,
  source_key text not null,
  range_start bigint not null,
  range_end bigint not null,
  exact_range boolean not null,
  status text not null default 'pending' check (status in ('pending', 'completed')),
  enqueued_at timestamptz,
  completed_at timestamptz,
  records_read bigint,
  records_aggregated bigint,
  records_rejected bigint,
  lines bigint,
  bytes_read bigint,
  read_ms double precision,
  parse_ms double precision,
  merge_ms double precision,
  primary key (job_id, idx)
);

create table ${s}.rejected_records (
  job_id bigint not null references ${s}.batch_jobs (job_id) on delete cascade,
  partition_idx int not null,
  seq int not null,
  line_in_partition bigint not null,
  byte_offset bigint not null,
  reason text not null,
  raw text not null,
  primary key (job_id, partition_idx, seq)
);

-- Mergeable aggregates per (rollup, bucket, dimension values, metric): moments merged with
-- Chan's formula and a DDSketch whose bins merge by adding counts.
create table ${s}.rollups (
  dataset text not null,
  rollup text not null,
  bucket_start timestamptz not null,
  dims text[] not null,
  metric text not null,
  count bigint not null,
  sum double precision not null,
  min double precision,
  max double precision,
  mean double precision not null,
  m2 double precision not null,
  sketch jsonb not null,
  primary key (dataset, rollup, bucket_start, dims, metric)
);

-- Adds two sketches' bin counts key by key (the encoding is the sketch's own business).
create function ${s}.sketch_merge(a jsonb, b jsonb) returns jsonb
language sql immutable parallel safe as $$
  select coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
  from (
    select k, sum(v::bigint) as n
    from (
      select key as k, value as v from jsonb_each_text(coalesce(a, '{}'::jsonb))
      union all
      select key, value from jsonb_each_text(coalesce(b, '{}'::jsonb))
    ) bins
    group by k
  ) merged
$$;

create aggregate ${s}.sketch_union(jsonb) (
  sfunc = ${s}.sketch_merge,
  stype = jsonb,
  initcond = '{}'
);
`;
    },
  },
  {
    version: 2,
    description: 'analytics jobs, their windows, results and runs; data time range per partition',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
create table ${s}.analytics_jobs (
  name text primary key,
  definition jsonb not null,
  dataset text not null,
  enabled boolean not null,
  -- The end of the newest window computed: catch-up starts here.
  last_window_end timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Every window a job has computed; late data marks the windows it touches stale.
create table ${s}.analytics_windows (
  job text not null references ${s}.analytics_jobs (name) on delete cascade,
  window_start timestamptz not null,
  window_end timestamptz not null,
  computed_at timestamptz,
  stale boolean not null default false,
  primary key (job, window_start)
);

create table ${s}.analytics_results (
  job text not null references ${s}.analytics_jobs (name) on delete cascade,
  window_start timestamptz not null,
  window_end timestamptz not null,
  entity text not null,
  metric text not null,
  aggregation text not null,
  value double precision,
  primary key (job, window_start, entity, metric, aggregation)
);

create table ${s}.analytics_runs (
  run_id bigint generated always as identity primary key,
  job text not null,
  trigger text not null,
  fire_time timestamptz not null,
  window_start timestamptz,
  window_end timestamptz,
  started_at timestamptz not null,
  finished_at timestamptz,
  rows int,
  duration_ms double precision,
  status text not null check (status in ('running', 'succeeded', 'failed')),
  error text
);
create index on ${s}.analytics_runs (job, run_id);

alter table ${s}.batch_partitions add column data_min timestamptz, add column data_max timestamptz;
`;
    },
  },
  {
    version: 3,
    description: 'performance metrics, tuned settings, tuning history',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- What the functions measured, per partition: history and reports without CloudWatch.
create table ${s}.performance_metrics (
  id bigint generated always as identity primary key,
  component text not null,
  metric_name text not null,
  metric_value double precision not null,
  recorded_at timestamptz not null default now(),
  job_id bigint references ${s}.batch_jobs (job_id) on delete cascade,
  partition_idx int,
  context jsonb
);
create index on ${s}.performance_metrics (component, metric_name, recorded_at);

-- Settings the tuner owns that live in no AWS resource (the splitter's partition size).
create table ${s}.tuned_settings (
  parameter text primary key,
  value double precision not null,
  updated_at timestamptz not null default now()
);

-- Every change the tuner applied, and how it worked out over the following window.
create table ${s}.tuning_history (
  id bigint generated always as identity primary key,
  parameter text not null,
  old_value double precision,
  new_value double precision,
  reason text not null,
  evidence jsonb not null,
  applied_at timestamptz not null default now(),
  effectiveness double precision,
  effectiveness_detail text,
  measured_at timestamptz
);
create index on ${s}.tuning_history (parameter, applied_at);
`;
    },
  },
  {
    version: 4,
    description: 'sketch_sum: many sketches merged in one pass',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- Adds the bins of any number of sketches in one GROUP BY. The sketch_union aggregate rebuilds the
-- running jsonb object once per input row (measured: 6,720 cells of ~500 bins took 3 s); this reads
-- every bin once.
create function ${s}.sketch_sum(sketches jsonb[]) returns jsonb
language sql immutable parallel safe as $$
  select coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
  from (
    select bins.key as k, sum(bins.value::bigint) as n
    from unnest(sketches) as one(sketch), jsonb_each_text(one.sketch) as bins
    group by bins.key
  ) merged
$$;
`;
    },
  },
  {
    version: 8,
    description: 'batch_jobs: the exact object version a job reads (version id, ETag)',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- Processors read the version the job recorded, not whatever the key holds now: an overwrite
-- mid-job would otherwise mix old byte offsets with new bytes. version_id is set when the bucket
-- is versioned (a GET with VersionId); etag otherwise (a GET with If-Match). Null in jobs opened
-- before this migration: those read the key as before.
alter table ${s}.batch_jobs add column version_id text, add column etag text;
`;
    },
  },
  {
    version: 9,
    description: 'partition states with attempts and errors; jobs that end with failures or stopped; split attempts',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- A partition is pending (sent, or failed an attempt that will be retried), processing (an attempt
-- started), completed (merged once) or failed (its last allowed attempt failed, or nothing will
-- try it again: see lib/watchdog). attempts counts the processor attempts that started.
alter table ${s}.batch_partitions drop constraint batch_partitions_status_check;
alter table ${s}.batch_partitions add constraint batch_partitions_status_check
  check (status in ('pending', 'processing', 'completed', 'failed'));
alter table ${s}.batch_partitions
  add column attempts int not null default 0,
  add column error text,
  add column started_at timestamptz,
  add column failed_at timestamptz;
-- The watchdog's scan: only unfinished partitions.
create index batch_partitions_unfinished on ${s}.batch_partitions (job_id) where status in ('pending', 'processing');

-- completed_with_failures: some partitions merged, some failed; stopped: by a user, pending
-- partitions skipped. A job ends when done + failed = total.
alter table ${s}.batch_jobs drop constraint batch_jobs_status_check;
alter table ${s}.batch_jobs add constraint batch_jobs_status_check
  check (status in ('splitting', 'processing', 'completed', 'completed_with_rejects', 'completed_with_failures', 'failed', 'stopped'));
alter table ${s}.batch_jobs
  add column partitions_failed int not null default 0,
  add column split_attempts int not null default 0,
  add column split_started_at timestamptz;
`;
    },
  },
  {
    version: 10,
    description: 'rollup_partials: aggregates appended per partition, compacted into rollups in the background',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- What each partition merged, appended with COPY in the transaction that completes it: one row per
-- cell (rollup, dimension values, bucket) holding every metric's statistics. stats holds, for the
-- metric at (1-based) position i of metrics, count, sum, min, max, mean and M2 at 6(i-1)+1 .. 6i;
-- sketches is a JSON array of their sketches in the same order. No key, no conflict: writers never
-- wait for each other's rows. Queries read rollups and these together; the compactor (lib/compact)
-- merges these into rollups and deletes them in one transaction. shard is a hash of (rollup, dims)
-- that, with the rollup and the bucket's time range, splits the compactor's work into sets of rows
-- no other compactor touches.
create table ${s}.rollup_partials (
  dataset text not null,
  rollup text not null,
  dims text[] not null,
  shard smallint not null,
  bucket_start timestamptz not null,
  job_id bigint not null,
  partition_idx int not null,
  metrics text[] not null,
  stats float8[] not null,
  sketches jsonb not null
);
-- Queries and the compactor both read one rollup of a dataset over a time range (a week's query
-- on a dataset of four rollups reads a quarter of the rows an index without rollup would fetch).
create index rollup_partials_by_time on ${s}.rollup_partials (dataset, rollup, bucket_start);
`;
    },
  },
  {
    version: 11,
    description: 'batch_partitions, batch_jobs: values counted as missing under onInvalidValue "null", per column',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- A dataset with onInvalidValue "null" keeps a record whose metric or dimension value is not valid,
-- counting the value as missing; these count such values per column name ({"arr_delay": 9430}),
-- in records that were aggregated. A job's is the sum of its completed partitions'.
alter table ${s}.batch_partitions add column values_nulled jsonb not null default '{}';
alter table ${s}.batch_jobs add column values_nulled jsonb not null default '{}';
`;
    },
  },
  {
    version: 12,
    description: 'batch_jobs: the encoding read, the reject threshold, and jobs failed on it',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- encoding: what the object was read as (utf-16le/be by its byte order mark, else the dataset's).
-- max_rejected_percent: the dataset's threshold when the job was split (null: none), so a change
-- of the definition mid-job does not move it. failed_on_rejects: the job ended past it; its
-- partial aggregates were deleted in that transaction, and the compactor never took any of them.
alter table ${s}.batch_jobs
  add column encoding text not null default 'utf-8',
  add column max_rejected_percent double precision,
  add column failed_on_rejects boolean not null default false;
`;
    },
  },
  {
    version: 13,
    description: 'batch_partitions: the row groups of a Parquet partition',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- A Parquet partition is whole row groups [row_group_start, row_group_end) of its object; its
-- range_start and range_end are the bytes their column chunks span. Null for byte-range partitions.
alter table ${s}.batch_partitions add column row_group_start int, add column row_group_end int;
`;
    },
  },
  {
    version: 14,
    description: 'batch_jobs: the line end the splitter detected (LF or CR alone)',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- Processors find record boundaries and read records by it: an object whose lines end with CR
-- alone reads as one long line otherwise. Jobs split before this migration read LF (and CRLF).
alter table ${s}.batch_jobs add column line_end text not null default 'lf' check (line_end in ('lf', 'cr'));
`;
    },
  },
  {
    version: 15,
    description: "batch_jobs: status 'created' (opened through the API, not started), a name, a description and per-job configuration",
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- POST /api/batch-jobs with start false opens a job that waits in 'created' for POST .../start:
-- nothing has read the object yet. configuration holds the per-job settings that override the
-- dataset's (maxRejectedPercent, partitionBytes), fixed once the job starts.
alter table ${s}.batch_jobs drop constraint batch_jobs_status_check;
alter table ${s}.batch_jobs add constraint batch_jobs_status_check
  check (status in ('created', 'splitting', 'processing', 'completed', 'completed_with_rejects', 'completed_with_failures', 'failed', 'stopped'));
alter table ${s}.batch_jobs
  add column name text check (char_length(name) <= 200),
  add column description text check (char_length(description) <= 2000),
  add column configuration jsonb not null default '{}';
`;
    },
  },
  {
    version: 16,
    description: 'resource_usage: what each function invocation used',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- One row per invocation of the splitter, processor, analytics and compactor functions
-- (lib/adapters/resourceUsageRecorder.ts): a partition is seconds of work, so a row per invocation
-- is a few per partition at most, and it keeps the per-request id a per-minute roll-up would lose.
-- max_rss_mib is the process's high-water mark (getrusage maxRSS): on Lambda a container serves
-- many invocations one after another, so it is the container's peak so far, not this
-- invocation's alone. db_connections counts the sessions of this database and user
-- (pg_stat_activity) at the end of the invocation; pool_cap is this container's pool size;
-- max_connections the server's. queue_* are the partition queue's approximate counts, sampled at
-- most once a minute per container (null when not sampled this time or not readable).
create table ${s}.resource_usage (
  id bigint generated always as identity primary key,
  function text not null,
  request_id text not null,
  started_at timestamptz not null,
  duration_ms double precision not null,
  succeeded boolean not null,
  max_rss_mib double precision not null,
  memory_mb int,
  db_connections int,
  pool_cap int not null,
  max_connections int,
  queue_visible int,
  queue_in_flight int,
  recorded_at timestamptz not null default now()
);
-- The routes read a window of started_at (retention too); the list pages by id within a function.
create index resource_usage_by_time on ${s}.resource_usage (started_at);
create index resource_usage_by_function on ${s}.resource_usage (function, id);
`;
    },
  },
  {
    version: 17,
    description: 'batch_jobs: the dataset definition the job started with',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- Copied from datasets.definition by the statement that opens the job, so a "datasets put"
-- while it runs (an added metric or rollup) applies to the next job, not to half of this one's
-- partitions. Null for jobs opened before this migration: they read the current definition.
alter table ${s}.batch_jobs add column definition jsonb;
`;
    },
  },
  {
    version: 18,
    description: 'rollup_partials: groups of one value per metric stored as their values and sketch buckets',
    sql: (schema) => {
      const s = quoteIdent(schema);
      return `
-- A partial row whose group holds at most one value per metric (most rows at high cardinality)
-- has sketches NULL and stats = the M metrics' values (NULL: none), then each value's sketch
-- bucket: 2M numbers where the full form has 6M and M JSON sketches Postgres must parse. Readers
-- expand it to the full form (count 1, sum = min = max = mean = the value, M2 0, a sketch of one bin).
alter table ${s}.rollup_partials alter column sketches drop not null;
`;
    },
  },
];

