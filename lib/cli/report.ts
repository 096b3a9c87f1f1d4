import type { IngestJob } from '../store/ingestJobs.ts';
import type { LocatedReject } from '../store/rejects.ts';
import type { RollupRow } from '../query/queryRollups.ts';

const ms = (v: number | null) => (v === null ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const n = (v: number) => v.toLocaleString('en-US');

/**
 * A job's metrics summary: wall time, the stages (split; then per partition read, parse +
 * aggregate, merge — summed over partitions, which run in parallel) and throughput.
 */
export function describeIngestJob(job: IngestJob): string {
  const wall = (job.finishedAt ?? new Date()).getTime() - job.createdAt.getTime();
  const rate = wall > 0 ? Math.round((job.recordsRead * 1000) / wall) : 0;
  const mb = job.bytesRead / 1e6;
  const lines = [
    `job ${job.jobId}  ${job.status}${job.reason ? `: ${job.reason}` : ''}${job.status === 'created' ? ` (not started: POST /api/batch-jobs/${job.jobId}/start)` : ''}`,
    ...(job.name ? [`  name         ${job.name}`] : []),
    ...(Object.keys(job.configuration).length > 0 ? [`  configured   ${Object.entries(job.configuration).map(([k, v]) => `${k} ${v}`).join(', ')}`] : []),
    `  object       s3://${job.bucket}/${job.key} (${job.compression}, ${job.encoding}, ${n(job.objectSize ?? 0)} bytes)`,
    `  records      ${n(job.recordsRead)} read = ${n(job.recordsAggregated)} aggregated + ${n(job.recordsRejected)} rejected`,
    ...nulledLine(job),
    `  partitions   ${job.partitionsDone}/${job.partitionsTotal ?? '?'} completed${job.partitionsFailed > 0 ? `, ${job.partitionsFailed} failed (batchflow retry ${job.jobId})` : ''}`,
    `  wall time    ${ms(wall)}  (${n(rate)} records/s, ${wall > 0 ? ((mb * 1000) / wall).toFixed(1) : '0'} MB/s)`,
    `  stages       split ${ms(job.splitMs)} | read ${ms(job.readMs)} | parse+aggregate ${ms(job.parseMs)} | merge ${ms(job.mergeMs)}  (summed over partitions)`,
  ];
  if (job.parseMs > 0) lines.push(`  per core     ${n(Math.round((job.recordsRead * 1000) / job.parseMs))} records/s parse+aggregate`);
  return lines.join('\n');
}

/** The values nulled under onInvalidValue "null", by column, most first; no line when none were. */
function nulledLine(job: IngestJob): string[] {
  const entries = Object.entries(job.valuesNulled).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (entries.length === 0) return [];
  return [`  nulled       ${entries.map(([column, count]) => `${column} ${n(count)}`).join(', ')} (invalid values counted as missing)`];
}

/** Rows as an aligned text table. */
export function table(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'number' ? formatNumber(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line([...cols]), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(8).replace(/\.?0+$/, '');
}

/** Query rows for the terminal. */
export function describeRows(rows: readonly RollupRow[]): string {
  return table(rows);
}

/** Rejected records for the terminal. */
export function describeRejects(rejects: readonly LocatedReject[]): string {
  return table(
    rejects.map((r) => ({ line: r.line ?? '?', offset: r.byteOffset, reason: r.reason, raw: r.raw.length > 60 ? `${r.raw.slice(0, 57)}...` : r.raw })),
  );
}

/** Prints `value` as JSON with `--json`, else the human-readable `text()`. */
export function print(json: boolean, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}
