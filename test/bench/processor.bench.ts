/**
 * `npm run bench`: batchflow side by side with the engines a user would otherwise reach for, on the
 * same files in the same run, medians of several runs, ratios printed (ours ÷ theirs in records/s;
 * above 1 we are faster). Three files, generated once under `.batchflow/bench/` and reused: the
 * 5M-record sales CSV in time order, the same records shuffled over 30 days, and the 1M-record
 * high-cardinality observations file (~725k groups over a year, no time order). For each:
 *
 * - parse + aggregate on one core (a fresh process per run) vs DuckDB (one thread, read_csv and the
 *   same GROUP BY GROUPING SETS with count, sum, min, max, avg, stddev_samp, var_samp, median), group
 *   counts checked equal;
 * - end to end: upload → job complete on the local stack (moto at AWS_ENDPOINT_URL or started here,
 *   the real Postgres at DATABASE_URL, the same functions and worker pool as `npm run local`), vs
 *   the Postgres-native path: an UNLOGGED table, COPY of the file, the same GROUPING SETS with
 *   percentile_disc(0.5), materialised with CREATE TABLE AS;
 * - the processor's peak RSS (VmHWM of a fresh process, V8 heap capped) at 1M and 5M sales records
 *   and at the high-cardinality file (the pure parse + aggregate path, partition by partition);
 * - after ingesting the high-cardinality file: rollup storage bytes per cell, a 1-week query and a
 *   weekly analytics run, uncompacted and after compactPartials;
 * - the time-ordered sales records as Parquet (zstd, written by DuckDB) vs the same CSV: parse +
 *   aggregate on one core and end to end.
 *
 * BENCH_RUNS (default 3 end to end, 5 for parse + aggregate and the queries; BENCH_E2E_RUNS and
 * BENCH_CPU_RUNS set one of them), BENCH_RECORDS (sales records, default 5,000,000),
 * BENCH_HC_RECORDS (default 1,000,000), BENCH_SKIP (comma-separated: duckdb, e2e, rss, storage)
 * and BENCH_FILES (sales, observations, parquet) shrink a run while iterating (BENCH_FILES=parquet
 * runs the Parquet-vs-CSV comparison alone; BENCH_SKIP=cpu skips its per-core half); BENCH_PARTITION_VISIBILITY_S shortens the partition queue's
 * visibility timeout (printed when set). A run whose job does not end `completed` with every
 * record read is reported and left out of the medians. The last two lines are
 * `ratio vs DuckDB per core: <x>` and `ratio vs Postgres-native end to end: <x>`, the lowest over the
 * files; `ratio Parquet vs CSV end to end: <x>` before them (records/s, Parquet ÷ CSV).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import postgres from 'postgres';
import { AGGREGATIONS, parseAnalyticsJobDefinition } from '../../lib/analytics/jobDefinition.ts';
import { runAnalyticsJob } from '../../lib/analytics/runAnalyticsJob.ts';
import { localTarget } from '../../lib/cli/target.ts';
import { jobInDatabase, uploadFile, waitForIngestJob } from '../../lib/cli/upload.ts';
import { DEFAULTS } from '../../lib/config.ts';
import { compactPartials } from '../../lib/compact/compactor.ts';
import type { DatasetDefinition } from '../../lib/datasets/definition.ts';
import { queryRollups, type RollupQuery } from '../../lib/query/queryRollups.ts';
import { BUCKET_ORIGIN_MS, parseGranularity } from '../../lib/rollup/granularity.ts';
import { putAnalyticsJob } from '../../lib/store/analytics.ts';
import { putDataset } from '../../lib/store/datasets.ts';
import { connectDb, type Db } from '../../lib/store/db.ts';
import { topology } from '../../lib/topology.ts';
import { localDir, projectRoot } from '../../localstack/paths.ts';
import { writeSalesCsv } from '../../localstack/demo/sampleData.ts';
import { functionBundle } from '../../localstack/runtime/functionBundle.ts';
import { localConcurrency, startLocalStack } from '../../localstack/stack.ts';
import { writeHighCardinalityCsv } from './highCardinality.ts';
import { benchDataset } from './parseAggregate.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const HEAP_CAP_MB = 128;
const RUNS = process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : undefined;
const CPU_RUNS = Number(process.env.BENCH_CPU_RUNS ?? RUNS ?? 5);
const E2E_RUNS = Number(process.env.BENCH_E2E_RUNS ?? RUNS ?? 3);
/**
 * The partition queue's visibility timeout for the end-to-end runs. Default: topology's (1,800 s),
 * as `npm run local` and AWS have it — a partition whose merge fails on a non-transient error (a
 * statement timeout) is then redelivered half an hour later, and the run waits for it.
 */
const VISIBILITY_S = process.env.BENCH_PARTITION_VISIBILITY_S ? Number(process.env.BENCH_PARTITION_VISIBILITY_S) : undefined;
const RECORDS = Number(process.env.BENCH_RECORDS ?? 5_000_000);
const HC_RECORDS = Number(process.env.BENCH_HC_RECORDS ?? 1_000_000);
/** Which files to run, by dataset name (sales, observations); default all three. */
const ONLY = process.env.BENCH_FILES ? new Set(process.env.BENCH_FILES.split(',')) : undefined;
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const runsMs = (xs: number[]) => `runs ms: ${xs.map(fmt).join(', ')}`;
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

interface BenchFile {
  readonly label: string;
  readonly file: string;
  readonly dataset: DatasetDefinition;
  readonly records: number;
}

const benchDir = join(localDir, 'bench');
mkdirSync(benchDir, { recursive: true });

// Deterministic content: generated once, reused by later runs.
async function salesFile(records: number, order: 'time' | 'random'): Promise<string> {
  const file = join(benchDir, `sales-${records}-${order}.csv`);
  if (!existsSync(file)) await writeSalesCsv(file, { records, products: 50, days: 30, order });
  return file;
}
async function observationsFile(records: number): Promise<string> {
  const file = join(benchDir, `observations-${records}.csv`);
  if (!existsSync(file)) await writeHighCardinalityCsv(file, { records });
  return file;
}

/** Runs a bench script in a fresh Node process (no heap left over from other runs) and reads its JSON line. */
function child<T>(script: string, args: string[], nodeFlags: string[] = []): T {
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', join(projectRoot, 'test/bench', script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

/** The file's header line, as column names. */
function headerOf(file: string): string[] {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(65536);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  const line = buf.subarray(0, n).toString('utf8').split('\n')[0].replace(/\r$/, '');
  return line.split(',');
}

/** The dimensions some rollup groups by, in definition order. */
const groupedDims = (d: DatasetDefinition) => d.dimensions.filter((dim) => d.rollups.some((r) => r.includes(dim)));
const granularitySeconds = (d: DatasetDefinition) => {
  const g = parseGranularity(d.granularity);
  if (!g.ms) throw new Error(`granularity ${d.granularity} has no fixed length: the bench's SQL buckets need one`);
  return g.ms / 1000;
};
const groupingSets = (d: DatasetDefinition) => d.rollups.map((r) => `(${['b', ...r.map(ident)].join(', ')})`).join(', ');

// ---------------------------------------------------------------- DuckDB
const duck = await DuckDBInstance.create(':memory:', { threads: '1' });
const conn = await duck.connect();

/** read_csv with the file's columns typed from the definition, the same groups and statistics as our rollups. */
function duckQuery(f: BenchFile): string {
  const d = f.dataset;
  const columns = headerOf(f.file).map((c) => {
    const type = d.metrics.includes(c) ? 'DOUBLE' : c === d.timeColumn && d.timeFormat !== 'iso' ? 'DOUBLE' : 'VARCHAR';
    return `${literal(c)}: '${type}'`;
  });
  const t = ident(d.timeColumn);
  const ts = d.timeFormat === 'iso' ? `${t}::TIMESTAMP` : `make_timestamp(CAST(${t} * ${d.timeFormat === 'epoch_s' ? 1e6 : 1e3} AS BIGINT))`;
  const origin = new Date(BUCKET_ORIGIN_MS).toISOString().replace('T', ' ').replace('Z', '');
  const stats = (m: string) =>
    ['count', 'sum', 'min', 'max', 'avg', 'stddev_samp', 'var_samp', 'median'].map((fn) => `${fn}(${ident(m)})`).join(', ');
  return `
    SELECT time_bucket(INTERVAL '${granularitySeconds(d)} seconds', ${ts}, TIMESTAMP '${origin}') AS b, ${groupedDims(d).map(ident).join(', ')},
           ${d.metrics.map(stats).join(', ')}
    FROM read_csv(${literal(f.file)}, header = true, columns = {${columns.join(', ')}})
    GROUP BY GROUPING SETS (${groupingSets(d)})`;
}

/** Both engines on one file, alternating runs; medians in records/s. Returns the groups too. */
async function parseAggregateVsDuckDB(f: BenchFile): Promise<{ ours: number; duck: number; groups: number }> {
  const ours: number[] = [];
  const theirs: number[] = [];
  let ourCells = 0;
  let duckRows = 0;
  const query = duckQuery(f);
  for (let run = 0; run < CPU_RUNS; run++) {
    const r = child<{ records: number; cells: number; ms: number }>('throughput.ts', [f.file, f.dataset.name]);
    if (r.records !== f.records) throw new Error(`${f.label}: expected ${f.records} records, got ${r.records}`);
    ours.push(r.ms);
    ourCells = r.cells;
    const t = performance.now();
    duckRows = (await conn.runAndReadAll(query)).getRows().length;
    theirs.push(performance.now() - t);
  }
  // Same work: one DuckDB row per group, one of our cells per (group, metric).
  const metrics = f.dataset.metrics.length;
  if (ourCells !== duckRows * metrics) throw new Error(`${f.label}: groups differ: ours ${ourCells / metrics}, DuckDB ${duckRows}`);
  const oursRate = (f.records * 1000) / median(ours);
  const duckRate = (f.records * 1000) / median(theirs);
  console.log(`  parse+aggregate, ${fmt(duckRows)} groups in both (${fmt(ourCells)} cells)`);
  console.log(`    batchflow, 1 core                : median ${secs(median(ours))}  ${fmt(oursRate)} records/s  (${runsMs(ours)})`);
  console.log(`    DuckDB read_csv+GROUP BY, 1 thread: median ${secs(median(theirs))}  ${fmt(duckRate)} records/s  (${runsMs(theirs)})`);
  console.log(`    ratio: ${(oursRate / duckRate).toFixed(2)}`);
  return { ours: oursRate, duck: duckRate, groups: duckRows };
}

// ---------------------------------------------------------------- end to end
class JobNotCompleted extends Error {}

/**
 * One upload on a fresh local stack (its own stage and schema, so every run does the same work),
 * timed from the upload's start to the job's terminal status (polled every 250 ms, as
 * `batchflow upload --wait` does). `after` runs on the ingested schema before it is dropped.
 */
async function batchflowEndToEnd(f: BenchFile, after?: (db: Db, schema: string) => Promise<void>): Promise<number> {
  const id = randomBytes(3).toString('hex');
  const schema = `bench_e2e_${id}`;
  const stack = await startLocalStack({
    stage: `bench-${id}`,
    databaseUrl,
    databaseSchema: schema,
    // Compaction is timed on its own below (compactPartials), and the queries before it need the
    // partial rows: the processor does not compact after the job here.
    environment: { POWERTOOLS_LOG_LEVEL: 'ERROR', COMPACT_AFTER_JOB: 'false' },
    // As `npm run local` runs them: one invocation per core of each function at a time.
    maxConcurrentInvocations: localConcurrency(),
    ...(VISIBILITY_S !== undefined ? { queueOverrides: { partitions: { visibilityTimeoutSeconds: VISIBILITY_S } } } : {}),
  });
  const db = connectDb({ url: databaseUrl, schema, max: 4 });
  try {
    await putDataset(db, f.dataset);
    const started = performance.now();
    const object = await uploadFile(db, localTarget(stack.state), f.file, f.dataset.name);
    const job = await waitForIngestJob(jobInDatabase(db), object, { progress: false, timeoutMs: 4 * 3600_000 });
    const ms = performance.now() - started;
    if (job.status !== 'completed' || job.recordsRead !== f.records) {
      throw new JobNotCompleted(`job ${job.jobId} ended ${job.status} after ${secs(ms)} with ${fmt(job.recordsRead)} of ${fmt(f.records)} records read`);
    }
    await stack.stop();
    if (after) await after(db, schema);
    return ms;
  } finally {
    await stack.stop().catch(() => {});
    await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
    await db.close();
  }
}

/**
 * What a user would do with Postgres alone, timed as a whole: an UNLOGGED table, COPY of the file
 * (streamed through postgres.js), the same GROUPING SETS materialised with CREATE TABLE AS.
 */
async function postgresNative(f: BenchFile): Promise<{ ms: number; groups: number }> {
  const d = f.dataset;
  const schema = `bench_pg_${randomBytes(3).toString('hex')}`;
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const columns = headerOf(f.file).map((c) => {
    const type = d.metrics.includes(c) ? 'double precision' : c === d.timeColumn ? (d.timeFormat === 'iso' ? 'timestamptz' : 'double precision') : 'text';
    return `${ident(c)} ${type}`;
  });
  const t = ident(d.timeColumn);
  const ts = d.timeFormat === 'iso' ? t : `to_timestamp(${t}${d.timeFormat === 'epoch_ms' ? ' / 1000' : ''})`;
  const stats = (m: string) =>
    [...['count', 'sum', 'min', 'max', 'avg', 'stddev_samp', 'var_samp'].map((fn) => `${fn}(${ident(m)})`), `percentile_disc(0.5) within group (order by ${ident(m)})`]
      .map((e, i) => `${e} as ${ident(`${m}_${i}`)}`)
      .join(', ');
  const origin = new Date(BUCKET_ORIGIN_MS).toISOString();
  try {
    const started = performance.now();
    await sql.unsafe(`create schema ${schema}`);
    await sql.unsafe(`create unlogged table ${schema}.raw (${columns.join(', ')})`);
    const copy = await sql.unsafe(`copy ${schema}.raw from stdin with (format csv, header true)`).writable();
    await pipeline(createReadStream(f.file, { highWaterMark: 1 << 20 }), copy);
    await sql.unsafe(`
      create table ${schema}.result as
      select date_bin(interval '${granularitySeconds(d)} seconds', ${ts}, timestamptz '${origin}') as b, ${groupedDims(d).map(ident).join(', ')},
             ${d.metrics.map(stats).join(', ')}
      from ${schema}.raw
      group by grouping sets (${groupingSets(d)})`);
    const ms = performance.now() - started;
    const [{ groups }] = await sql.unsafe(`select count(*)::int as groups from ${schema}.result`);
    return { ms, groups };
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end();
  }
}

async function endToEndVsPostgres(f: BenchFile, groups: number | undefined, after?: (db: Db, schema: string) => Promise<void>): Promise<{ ours: number; pg: number } | undefined> {
  const ours: number[] = [];
  const theirs: number[] = [];
  const failures: string[] = [];
  for (let run = 0; run < E2E_RUNS; run++) {
    try {
      // The storage and query figures are taken on the last run (when it completes).
      ours.push(await batchflowEndToEnd(f, run === E2E_RUNS - 1 ? after : undefined));
    } catch (err) {
      if (!(err instanceof JobNotCompleted)) throw err;
      failures.push(`run ${run + 1}: ${err.message}`);
    }
    const pg = await postgresNative(f);
    if (groups !== undefined && pg.groups !== groups) throw new Error(`${f.label}: Postgres made ${pg.groups} groups, DuckDB ${groups}`);
    theirs.push(pg.ms);
  }
  const pgRate = (f.records * 1000) / median(theirs);
  const knobs = VISIBILITY_S !== undefined ? `, partition queue visibility timeout ${VISIBILITY_S} s` : '';
  if (ours.length === 0) {
    console.log(`  end to end: no batchflow run completed${knobs} (${failures.join('; ')})`);
    console.log(`    Postgres UNLOGGED + COPY + GROUPING SETS (CTAS): median ${secs(median(theirs))}  ${fmt(pgRate)} records/s  (${runsMs(theirs)})`);
    return undefined;
  }
  const oursRate = (f.records * 1000) / median(ours);
  console.log(`  end to end (${ours.length} of ${E2E_RUNS} batchflow runs completed with records_read = ${fmt(f.records)}${knobs})`);
  for (const failure of failures) console.log(`    left out: ${failure}`);
  console.log(`    batchflow upload → job completed, local stack  : median ${secs(median(ours))}  ${fmt(oursRate)} records/s  (${runsMs(ours)})`);
  console.log(`    Postgres UNLOGGED + COPY + GROUPING SETS (CTAS): median ${secs(median(theirs))}  ${fmt(pgRate)} records/s  (${runsMs(theirs)})`);
  console.log(`    ratio: ${(oursRate / pgRate).toFixed(2)}`);
  return { ours: oursRate, pg: pgRate };
}

// ---------------------------------------------------------------- peak RSS
/** V8 heap caps tried in turn: the first is the figure quoted; a file whose work needs more says so. */
const HEAP_CAPS_MB = [HEAP_CAP_MB, 256, 512, 1024];

async function peakRss(f: BenchFile): Promise<void> {
  // Run from its esbuild bundle, as Lambda runs the processor: through tsx the process also holds
  // tsx's compiler and the compiled sources (measured: 87 MiB resident before any work, against 39
  // for plain node), which no deployed processor carries.
  const bundle = fileURLToPath(await functionBundle(new URL('./peakRss.ts', import.meta.url)));
  // V8 grows its heap lazily up to its default limit; capped, the peak shows what the work needs.
  const failed: number[] = [];
  for (const cap of HEAP_CAPS_MB) {
    let r: { records: number; partitions: number; peakRssBytes: number };
    try {
      const out = execFileSync(process.execPath, [`--max-old-space-size=${cap}`, bundle, f.file, f.dataset.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      r = JSON.parse(out.trim().split('\n').pop()!) as typeof r;
    } catch (err) {
      if (!/heap out of memory/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
      failed.push(cap);
      continue;
    }
    console.log(
      `  processor peak RSS, ${fmt(r.records)} records (${r.partitions} partitions of ${topology.ingest.partitionBytes / 2 ** 20} MiB one after another, parse + aggregate + partial rows encoded, flushed every ${fmt(DEFAULTS.partialFlushCells)} cells, V8 heap capped at ${cap} MiB, run from its esbuild bundle` +
        `${failed.length ? `; out of memory at ${failed.map((c) => `${c} MiB`).join(', ')}` : ''}): ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    return;
  }
  console.log(`  processor peak RSS, ${fmt(f.records)} records: out of memory at every V8 heap cap tried (${HEAP_CAPS_MB.join(', ')} MiB)`);
}

// ---------------------------------------------------------------- storage, query, analytics
/** Storage per cell, a 1-week query and a weekly analytics run on the ingested schema, before and after compaction. */
async function afterIngestion(f: BenchFile, groups: number | undefined, db: Db, schema: string, log: (line: string) => void): Promise<void> {
  const d = f.dataset;
  // Every table whose name starts with "rollup" (rollups, and rollup_partials once it exists).
  const storage = async () => {
    const tables = await db.sql<{ name: string; bytes: string }[]>`
      select table_name as name, pg_total_relation_size(format('%I.%I', table_schema, table_name)::regclass)::bigint as bytes
      from information_schema.tables where table_schema = ${schema} and table_name like 'rollup%' order by table_name`;
    const [{ rows }] = await db.sql<{ rows: number }[]>`select count(*)::int as rows from ${db.table('rollups')}`;
    const bytes = tables.reduce((s, t) => s + Number(t.bytes), 0);
    return { tables, bytes, rows };
  };
  const cells = groups !== undefined ? groups * d.metrics.length : undefined;
  const before = await storage();
  log(
    `  rollup storage after ingestion: ${before.tables.map((t) => `${t.name} ${(Number(t.bytes) / 2 ** 20).toFixed(1)} MiB`).join(', ')}; ` +
      `${fmt(before.rows)} rows in rollups` +
      (cells ? `; ${fmt(cells)} cells (groups × metrics): ${fmt(before.bytes / cells)} bytes per cell` : ''),
  );

  // One week in the middle of the year: Monday 2023-06-05 to Monday 2023-06-12.
  const from = new Date('2023-06-05T00:00:00Z');
  const to = new Date('2023-06-12T00:00:00Z');
  const queries: { label: string; q: RollupQuery }[] = [
    { label: `1-week query, --granularity 1-day --by station`, q: { granularity: '1-day', by: ['station'], from, to } },
    { label: `1-week query, --granularity ${d.granularity} --by kind,station`, q: { granularity: d.granularity, by: ['kind', 'station'], from, to } },
  ];
  const job = parseAnalyticsJobDefinition({
    name: 'bench-weekly-by-station',
    enabled: false,
    schedule: 'EVERYWEEK',
    dataset: d.name,
    entity: 'station',
    granularity: '1-week',
    delayHours: 0,
    filter: null,
    metrics: d.metrics.map((metric) => ({ metric, aggregations: [...AGGREGATIONS] })),
  });
  await putAnalyticsJob(db, job);
  const measure = async () => {
    const out: { label: string; ms: number[]; rows: number }[] = [];
    for (const { label, q } of queries) {
      const ms: number[] = [];
      let rows = 0;
      await queryRollups(db, d, q); // warm-up, not timed: both sides then read from a warm cache
      for (let run = 0; run < CPU_RUNS; run++) {
        const t = performance.now();
        rows = (await queryRollups(db, d, q)).length;
        ms.push(performance.now() - t);
      }
      out.push({ label, ms, rows });
    }
    const ms: number[] = [];
    let rows = 0;
    await runAnalyticsJob(db, job.name, to, 'manual'); // warm-up, not timed
    for (let run = 0; run < CPU_RUNS; run++) {
      const t = performance.now();
      const outcome = await runAnalyticsJob(db, job.name, to, 'manual');
      ms.push(performance.now() - t);
      rows = outcome.rows.length;
    }
    out.push({ label: `analytics run ${job.name} (1-week window, entity station, ${AGGREGATIONS.length} aggregations × ${d.metrics.length} metrics)`, ms, rows });
    return out;
  };
  // Autovacuum analyzes a table after a bulk change within a minute or so; the bench does it now
  // instead of waiting, so the planner sees the tables as they are on both sides.
  await db.sql`analyze ${db.table('rollup_partials')}, ${db.table('rollups')}`;
  const uncompacted = await measure();
  const t = performance.now();
  const compaction = await compactPartials(db, { dataset: d.name });
  const compactMs = performance.now() - t;
  // And vacuums the compacted-away partial rows (storage is measured without them).
  await db.sql`vacuum analyze ${db.table('rollup_partials')}, ${db.table('rollups')}`;
  const after = await storage();
  log(`  compactPartials: ${compaction.shards} shards, ${fmt(compaction.partialRows)} partial rows in ${secs(compactMs)} (then VACUUM ANALYZE, as autovacuum would)`);
  log(
    `  rollup storage after compaction: ${after.tables.map((x) => `${x.name} ${(Number(x.bytes) / 2 ** 20).toFixed(1)} MiB`).join(', ')}` +
      (cells ? `; ${fmt(after.bytes / cells)} bytes per cell` : ''),
  );
  const compacted = await measure();
  for (let i = 0; i < uncompacted.length; i++) {
    const [u, c] = [uncompacted[i], compacted[i]];
    log(`  ${u.label}: ${fmt(u.rows)} rows`);
    log(`    uncompacted: median ${median(u.ms).toFixed(0)} ms (${runsMs(u.ms)})`);
    log(`    compacted  : median ${median(c.ms).toFixed(0)} ms (${runsMs(c.ms)})`);
    log(`    ratio uncompacted / compacted: ${(median(u.ms) / median(c.ms)).toFixed(2)}`);
  }
}

// ---------------------------------------------------------------- Parquet vs CSV
/** The time-ordered sales records as Parquet (zstd, DuckDB's default row groups of 122,880 rows), written once by DuckDB. */
async function salesParquet(csv: string): Promise<string> {
  const file = csv.replace(/\.csv$/, '.zstd.parquet');
  if (!existsSync(file)) {
    await conn.run(`
      COPY (SELECT ts::TIMESTAMPTZ AS ts, region, product, nullif(amount, '')::DOUBLE AS amount, quantity::INTEGER AS quantity
            FROM read_csv(${literal(csv)}, header = true, all_varchar = true))
      TO ${literal(file)} (FORMAT parquet, COMPRESSION zstd)`);
  }
  return file;
}

/**
 * The same sales records as CSV and as Parquet: parse + aggregate on one core (fresh processes,
 * alternating) and end to end on the local stack (alternating runs). Returns Parquet's end-to-end
 * records/s ÷ CSV's, or undefined when a side had no completed run.
 */
async function parquetVsCsv(): Promise<number | undefined> {
  const csv = await salesFile(RECORDS, 'time');
  const parquet = await salesParquet(csv);
  const [{ groups }] = (await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id)::INT AS groups FROM parquet_metadata(${literal(parquet)})`)).getRowObjectsJS() as { groups: number }[];
  const sides = [
    { label: 'CSV    ', f: { label: 'sales CSV', file: csv, dataset: sales, records: RECORDS }, args: [csv, 'sales'] },
    { label: 'Parquet', f: { label: 'sales Parquet', file: parquet, dataset: { ...sales, format: 'parquet' as const }, records: RECORDS }, args: [parquet, 'sales', 'parquet'] },
  ];
  const mb = (file: string) => `${(statSync(file).size / 1e6).toFixed(0)} MB`;
  console.log(`
sales as Parquet vs the same records as CSV: ${fmt(RECORDS)} records; CSV ${mb(csv)}, Parquet ${mb(parquet)} (zstd, ${groups} row groups)`);
  if (!SKIP.has('cpu')) {
    const ms = sides.map(() => [] as number[]);
    for (let run = 0; run < CPU_RUNS; run++) {
      sides.forEach((side, i) => {
        const r = child<{ records: number; ms: number }>('throughput.ts', side.args);
        if (r.records !== RECORDS) throw new Error(`${side.f.label}: expected ${RECORDS} records, got ${r.records}`);
        ms[i].push(r.ms);
      });
    }
    console.log('  parse+aggregate, batchflow, 1 core');
    sides.forEach((side, i) => console.log(`    ${side.label}: median ${secs(median(ms[i]))}  ${fmt((RECORDS * 1000) / median(ms[i]))} records/s  (${runsMs(ms[i])})`));
    console.log(`    ratio Parquet / CSV: ${(median(ms[0]) / median(ms[1])).toFixed(2)}`);
  }
  if (SKIP.has('e2e')) return undefined;
  const ms = sides.map(() => [] as number[]);
  for (let run = 0; run < E2E_RUNS; run++) {
    for (const [i, side] of sides.entries()) {
      try {
        ms[i].push(await batchflowEndToEnd(side.f));
      } catch (err) {
        if (!(err instanceof JobNotCompleted)) throw err;
        console.log(`    left out: ${side.label.trim()} run ${run + 1}: ${err.message}`);
      }
    }
  }
  console.log('  end to end, batchflow upload → job completed, local stack');
  sides.forEach((side, i) => {
    if (ms[i].length) console.log(`    ${side.label}: median ${secs(median(ms[i]))}  ${fmt((RECORDS * 1000) / median(ms[i]))} records/s  (${runsMs(ms[i])})`);
  });
  if (!ms[0].length || !ms[1].length) return undefined;
  const ratio = median(ms[0]) / median(ms[1]);
  console.log(`    ratio Parquet / CSV: ${ratio.toFixed(2)}`);
  return ratio;
}

// ---------------------------------------------------------------- the run
const sales = benchDataset('sales');
const observations = benchDataset('observations');
// Only the selected files are generated (BENCH_FILES=parquet generates none of these).
const wanted = (name: string) => !ONLY || ONLY.has(name);
const files: BenchFile[] = [
  ...(wanted('sales')
    ? [
        { label: `sales, time-ordered (as exports and logs are)`, file: await salesFile(RECORDS, 'time'), dataset: sales, records: RECORDS },
        { label: `sales, timestamps shuffled over 30 days`, file: await salesFile(RECORDS, 'random'), dataset: sales, records: RECORDS },
      ]
    : []),
  ...(wanted('observations') ? [{ label: `high-cardinality observations, a year unordered`, file: await observationsFile(HC_RECORDS), dataset: observations, records: HC_RECORDS }] : []),
];
const hostCores = (await import('node:os')).availableParallelism();
console.log(`machine: ${hostCores} cores; Postgres ${databaseUrl.replace(/\/\/[^@]*@/, '//')}; runs: ${CPU_RUNS} parse+aggregate and queries, ${E2E_RUNS} end to end (medians)`);
for (const d of [sales, observations]) {
  console.log(
    `dataset ${d.name}: base granularity ${d.granularity}, rollups ${d.rollups.map((r) => `[${r.join(',')}]`).join(' ')} × metrics ${d.metrics.join(',')} × count,sum,min,max,avg,stddev,variance,median`,
  );
}

const duckRatios: number[] = [];
const pgRatios: number[] = [];
const notCompleted: string[] = [];
for (const f of files) {
  if (ONLY && !ONLY.has(f.dataset.name)) continue;
  console.log(`\n${f.label}: ${fmt(f.records)} records, ${(statSync(f.file).size / 1e6).toFixed(0)} MB (${f.file.slice(projectRoot.length)})`);
  let groups: number | undefined;
  if (!SKIP.has('duckdb')) {
    const r = await parseAggregateVsDuckDB(f);
    groups = r.groups;
    duckRatios.push(r.ours / r.duck);
  }
  const highCardinality = f.dataset === observations;
  if (!SKIP.has('e2e')) {
    // Measured on the last run's schema before it is dropped, printed after the end-to-end figures.
    const lines: string[] = [];
    const after = highCardinality && !SKIP.has('storage') ? (db: Db, schema: string) => afterIngestion(f, groups, db, schema, (l) => lines.push(l)) : undefined;
    const r = await endToEndVsPostgres(f, groups, after);
    if (r) pgRatios.push(r.ours / r.pg);
    else notCompleted.push(f.label);
    if (lines.length) console.log(`  after ingesting the file (the rollups of the last end-to-end run):\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
  if (!SKIP.has('rss') && (highCardinality || f.file.endsWith('-time.csv'))) {
    if (!highCardinality && RECORDS > 1_000_000) await peakRss({ ...f, file: await salesFile(1_000_000, 'time'), records: 1_000_000 });
    await peakRss(f);
  }
}
const parquetRatio = wanted('parquet') ? await parquetVsCsv() : undefined;
console.log('');
if (parquetRatio !== undefined) console.log(`ratio Parquet vs CSV end to end: ${parquetRatio.toFixed(2)}`);
if (duckRatios.length) console.log(`ratio vs DuckDB per core: ${Math.min(...duckRatios).toFixed(2)}`);
if (notCompleted.length) console.log(`end to end: no batchflow run completed for ${notCompleted.join('; ')} (left out of the ratio below)`);
if (pgRatios.length) console.log(`ratio vs Postgres-native end to end: ${Math.min(...pgRatios).toFixed(2)}`);
process.exit(0);
