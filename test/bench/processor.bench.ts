/**
 * `npm run bench`: the processor's parse + aggregate throughput on one core, side by side with
 * DuckDB (read_csv and the same GROUP BY, one thread) on the same generated 5M-record CSV in the
 * same run, and the processor's peak RSS for 1M and 5M records. Medians of several runs.
 * The last line is `ratio vs DuckDB per core: <ours / DuckDB records/s>`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseDatasetDefinition } from '../../lib/datasets/definition.ts';
import { topology } from '../../lib/topology.ts';
import { localDir, projectRoot } from '../../localstack/paths.ts';
import { salesDataset, writeSalesCsv } from '../../localstack/demo/sampleData.ts';

const HEAP_CAP_MB = 128;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 5_000_000);
const dataset = parseDatasetDefinition(salesDataset);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Runs a bench script in a fresh Node process (no heap left over from other runs) and reads its JSON line. */
function child<T>(script: string, file: string, nodeFlags: string[] = []): T {
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', join(projectRoot, 'test/bench', script), file], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

async function sample(records: number, order: 'time' | 'random' = 'time'): Promise<string> {
  const dir = join(localDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `sales-${records}-${order}.csv`);
  // Deterministic content: generated once, reused by later runs.
  if (!existsSync(file)) await writeSalesCsv(file, { records, products: 50, days: 30, order });
  return file;
}

// DuckDB: one thread, one query computing the same groups (GROUPING SETS = our rollups) and the
// same statistics (exact median, where we keep a 1%-accurate sketch).
const duck = await DuckDBInstance.create(':memory:', { threads: '1' });
const conn = await duck.connect();
const stats = (m: string) =>
  `count(${m}), sum(${m}), min(${m}), max(${m}), avg(${m}), stddev_samp(${m}), var_samp(${m}), median(${m})`;
const sets = dataset.rollups.map((r) => `(${['b', ...r].join(', ')})`).join(', ');
const duckQuery = (file: string) => `
  SELECT time_bucket(INTERVAL '1 hour', ts::TIMESTAMP, TIMESTAMP '2000-01-03') AS b, region, product,
         ${dataset.metrics.map(stats).join(', ')}
  FROM read_csv('${file.replace(/'/g, "''")}', header = true,
       columns = {'ts': 'VARCHAR', 'region': 'VARCHAR', 'product': 'VARCHAR', 'amount': 'DOUBLE', 'quantity': 'DOUBLE'})
  GROUP BY GROUPING SETS (${sets})`;

/** Both engines on one file, alternating runs; medians in records/s. */
async function compare(order: 'time' | 'random'): Promise<{ ours: number; duck: number }> {
  const file = await sample(RECORDS, order);
  const ours: number[] = [];
  const theirs: number[] = [];
  let ourCells = 0;
  let duckRows = 0;
  for (let run = 0; run < RUNS; run++) {
    const r = child<{ records: number; cells: number; ms: number }>('throughput.ts', file);
    if (r.records !== RECORDS) throw new Error(`expected ${RECORDS} records, got ${r.records}`);
    ours.push(r.ms);
    ourCells = r.cells;
    const t = performance.now();
    duckRows = (await conn.runAndReadAll(duckQuery(file))).getRows().length;
    theirs.push(performance.now() - t);
  }
  // Same work: one DuckDB row per group, one of our cells per (group, metric).
  if (ourCells !== duckRows * dataset.metrics.length) throw new Error(`groups differ: ours ${ourCells / dataset.metrics.length}, DuckDB ${duckRows}`);
  const oursRate = (RECORDS * 1000) / median(ours);
  const duckRate = (RECORDS * 1000) / median(theirs);
  const mb = statSync(file).size / 1e6;
  console.log(`\n${order === 'time' ? 'time-ordered file (as exports and logs are)' : 'timestamps shuffled over 30 days (worst case for cache locality)'}: ${mb.toFixed(0)} MB, ${fmt(duckRows)} groups in both`);
  console.log(`  batchflow parse+aggregate, 1 core : median ${(median(ours) / 1000).toFixed(2)} s  ${fmt(oursRate)} records/s  (runs ms: ${ours.map(fmt).join(', ')})`);
  console.log(`  DuckDB read_csv+GROUP BY, 1 thread: median ${(median(theirs) / 1000).toFixed(2)} s  ${fmt(duckRate)} records/s  (runs ms: ${theirs.map(fmt).join(', ')})`);
  console.log(`  ratio: ${(oursRate / duckRate).toFixed(2)}`);
  return { ours: oursRate, duck: duckRate };
}

console.log(`input: ${fmt(RECORDS)} records of ts,region,product,amount,quantity (50 products, 30 days), base granularity ${dataset.granularity}`);
console.log(`work: rollups ${dataset.rollups.map((r) => `[${r.join(',')}]`).join(' ')} × metrics ${dataset.metrics.join(',')} × count,sum,min,max,avg,stddev,variance,median`);
const shuffled = await compare('random');
const ordered = await compare('time');
void shuffled;

// Peak RSS of the processor's work in a fresh process, for 1M and 5M records.
for (const records of [1_000_000, 5_000_000]) {
  // V8 grows its heap lazily up to its default limit; capped, the peak shows what the work needs.
  const r = child<{ records: number; partitions: number; peakRssBytes: number }>('peakRss.ts', await sample(records, 'time'), [`--max-old-space-size=${HEAP_CAP_MB}`]);
  console.log(`processor peak RSS, ${fmt(r.records)} records (${r.partitions} partitions of ${topology.ingest.partitionBytes / 2 ** 20} MiB, one after another, V8 heap capped at ${HEAP_CAP_MB} MiB): ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
}
console.log(`ratio vs DuckDB per core: ${(ordered.ours / ordered.duck).toFixed(2)}`);
