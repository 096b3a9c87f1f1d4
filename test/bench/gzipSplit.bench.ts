/**
 * `npm run bench:gzip`: how much gzip one splitter run can cut. A gzip object cannot be range-read,
 * so one splitter streams it whole: decompress, find record ends (the part cutter), stage parts.
 * Side by side in the same run, on the same generated sales CSV (gzip -6): `gzip -dc` (the floor
 * any splitter pays), Node's gunzip alone, and gunzip + the cutter (the splitter's own CPU work,
 * without staging). Medians of several runs; the last line is the decompressed size that fits the
 * splitter's 280 s of work (its 300 s less the 20 s kept to record a failure) at the cutter's rate.
 * Staging adds one S3 PUT per part (8 MiB): in-region S3 takes ~50–100 MB/s per stream, so the
 * larger of the two terms is the bound on AWS; moto here is not a measure of S3.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip, gzipSync } from 'node:zlib';
import { createPartCutter } from '../../lib/split/cutter.ts';
import { topology } from '../../lib/topology.ts';
import { localDir } from '../../localstack/paths.ts';
import { writeSalesCsv } from '../../localstack/demo/sampleData.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000_000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MB = 1e6;

const dir = join(localDir, 'bench');
mkdirSync(dir, { recursive: true });
const csv = join(dir, `sales-${RECORDS}-time.csv`);
if (!existsSync(csv)) await writeSalesCsv(csv, { records: RECORDS, products: 50, days: 30, order: 'time' });
const gz = `${csv}.gz`;
if (!existsSync(gz)) writeFileSync(gz, gzipSync(readFileSync(csv), { level: 6 }));
const size = statSync(csv).size;
console.log(`${RECORDS.toLocaleString('en-US')} records: ${(size / MB).toFixed(1)} MB, gzip ${(statSync(gz).size / MB).toFixed(1)} MB`);

async function timed(run: () => Promise<void> | void): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

async function gunzipOnly(cut: boolean): Promise<void> {
  const cutter = createPartCutter({ format: 'csv', targetBytes: topology.ingest.partitionBytes, maxRecordBytes: topology.ingest.maxRecordBytes });
  let parts = 0;
  for await (const chunk of createReadStream(gz).pipe(createGunzip())) if (cut) parts += cutter.push(chunk as Buffer).length;
  if (cut && parts + cutter.end().length === 0) throw new Error('no parts');
}

const variants: [string, () => Promise<void> | void][] = [
  ['gzip -dc', () => void execFileSync('sh', ['-c', `gzip -dc '${gz}' > /dev/null`])],
  ['node gunzip', () => gunzipOnly(false)],
  ['gunzip + cutter', () => gunzipOnly(true)],
];
const seconds = new Map<string, number[]>(variants.map(([name]) => [name, []]));
for (let run = 0; run < RUNS; run++) {
  for (const [name, fn] of variants) seconds.get(name)!.push(await timed(fn));
}
const rate = (name: string) => size / median(seconds.get(name)!) / MB;
for (const [name] of variants) console.log(`${name.padEnd(16)} median ${median(seconds.get(name)!).toFixed(2)} s  ${rate(name).toFixed(0)} MB/s decompressed`);
console.log(`ratio gunzip + cutter vs gzip -dc: ${(rate('gunzip + cutter') / rate('gzip -dc')).toFixed(2)}`);
console.log(`largest gzip one splitter run cuts (CPU, 280 s at ${rate('gunzip + cutter').toFixed(0)} MB/s): ${((rate('gunzip + cutter') * 280) / 1000).toFixed(1)} GB decompressed`);
