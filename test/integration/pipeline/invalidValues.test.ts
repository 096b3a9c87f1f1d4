import { DuckDBInstance } from '@duckdb/node-api';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { describeIngestJob } from '../../../lib/cli/report.ts';
import { listRejects } from '../../../lib/store/rejects.ts';
import { summarize } from '../../../lib/views.ts';
import { prng } from '../../../localstack/demo/sampleData.ts';
import { compareQueries, GRANULARITIES } from './expected.ts';
import { registerDataset, uploadAndWait, usePipeline } from './pipeline.ts';
import type { FlatRecord } from './records.ts';

const p = usePipeline('invalid-values');

// An R-style export (write.csv of nycflights13::flights): missing values written NA, times as
// local wall clock without an offset (R's POSIXct in America/New_York). The expectation is
// computed apart from the pipeline: csv-parse reads the fields, DuckDB's ICU time zones turn the
// local times into instants, and expected.ts computes the statistics from the lists of values.

const ZONE = 'America/New_York';
const METRICS = ['dep_delay', 'arr_delay', 'air_time'];
const DIMENSIONS = ['carrier', 'origin'];

/** A flights file of `records` rows, NA in every column sometimes, a few rows with no time at all. */
function flightsCsv(records: number, seed: number): Buffer {
  const random = prng(seed);
  const lines = ['"year","time_hour","carrier","origin","dep_delay","arr_delay","air_time"'];
  const start = Date.UTC(2013, 2, 8); // spans the DST change of 2013-03-10
  for (let i = 0; i < records; i++) {
    const wall = new Date(start + Math.floor(random() * 5 * 86_400_000));
    const hour = wall.toISOString().slice(0, 13).replace('T', ' ');
    const time = random() < 0.01 ? 'NA' : `${hour}:00:00`;
    const na = (p: number, value: string) => (random() < p ? 'NA' : value);
    const carrier = na(0.02, `"${['UA', 'AA', 'B6', 'DL'][Math.floor(random() * 4)]}"`);
    const origin = `"${['EWR', 'LGA', 'JFK'][Math.floor(random() * 3)]}"`;
    const delay = () => String(Math.round(random() * 200 - 30));
    lines.push(['2013', time, carrier, origin, na(0.03, delay()), na(0.05, delay()), na(0.04, (random() * 400).toFixed(1))].join(','));
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Local wall times in ZONE as epoch ms, by DuckDB (timezone(zone, timestamp)). */
async function instants(walls: readonly string[]): Promise<Map<string, number>> {
  const duck = await DuckDBInstance.create(':memory:', { threads: '1' });
  const db = await duck.connect();
  try {
    const distinct = [...new Set(walls)];
    const list = distinct.map((w) => `'${w}'`).join(',');
    const reader = await db.runAndReadAll(`select w, epoch_ms(timezone('${ZONE}', w::timestamp)) from unnest([${list}]) as t(w)`);
    return new Map(reader.getRows().map(([w, ms]) => [w as string, Number(ms)]));
  } finally {
    db.closeSync();
    duck.closeSync();
  }
}

/** The records a policy keeps, and the values it nulls per column, read with csv-parse. */
async function expectedOf(bytes: Buffer, nullValues: readonly string[], policy: 'reject' | 'null') {
  const [header, ...rows] = parse(bytes) as string[][];
  const at = (name: string) => header.indexOf(name);
  const times = await instants(rows.map((r) => r[at('time_hour')]).filter((t) => t !== 'NA'));
  const good: FlatRecord[] = [];
  const nulled: Record<string, number> = {};
  let rejected = 0;
  for (const row of rows) {
    const time = row[at('time_hour')];
    const values = METRICS.map((m) => row[at(m)]);
    const invalid = METRICS.filter((_, i) => !nullValues.includes(values[i]) && !Number.isFinite(Number(values[i])));
    if (time === 'NA' || (policy === 'reject' && invalid.length > 0)) {
      rejected++;
      continue;
    }
    for (const m of invalid) nulled[m] = (nulled[m] ?? 0) + 1;
    good.push({
      timeMs: times.get(time)!,
      dims: Object.fromEntries(DIMENSIONS.map((d) => [d, nullValues.includes(row[at(d)]) ? '' : row[at(d)]])),
      metrics: Object.fromEntries(METRICS.map((m, i) => [m, nullValues.includes(values[i]) || invalid.includes(m) ? undefined : Number(values[i])])),
    });
  }
  return { good, nulled, rejected };
}

const definition = (name: string, extra: Record<string, unknown>) => ({
  name,
  format: 'csv',
  timeColumn: 'time_hour',
  timeZone: ZONE,
  granularity: '1-hour',
  dimensions: DIMENSIONS,
  metrics: METRICS,
  rollups: [['carrier'], ['carrier', 'origin'], []],
  ...extra,
});

describe('an R-style file with NA values', () => {
  const file = flightsCsv(3000, 42);

  it('under onInvalidValue "reject" (the default) loses every record holding an NA metric, as before', async () => {
    // Prepare
    const def = await registerDataset(p, definition('flights-reject', {}));
    const expected = await expectedOf(file, [''], 'reject');

    // Act
    const job = await uploadAndWait(p, 'uploads/flights-reject/flights.csv', file);
    const rejects = await listRejects(p.db, job.jobId, 10_000);
    const { problems, rows } = await compareQueries(p.db, def, expected.good, def.rollups, GRANULARITIES.slice(0, 2));

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', recordsRejected: expected.rejected, recordsAggregated: expected.good.length, valuesNulled: {} });
    expect(job.recordsRead).toBe(3000);
    expect(expected.rejected).toBeGreaterThan(300);
    expect(rejects.map((r) => r.reason)).toContain('field "dep_delay": "NA" is not a number');
    expect(problems).toEqual([]);
    expect(rows).toBeGreaterThan(100);
  });

  it('under onInvalidValue "null" keeps those records, each NA counted per column, the time still required', async () => {
    // Prepare
    const def = await registerDataset(p, definition('flights-null', { onInvalidValue: 'null' }));
    const expected = await expectedOf(file, [''], 'null');

    // Act
    const job = await uploadAndWait(p, 'uploads/flights-null/flights.csv', file);
    const rejects = await listRejects(p.db, job.jobId, 10_000);
    const { problems, rows } = await compareQueries(p.db, def, expected.good, def.rollups, GRANULARITIES.slice(0, 2));

    // Assess
    expect(job).toMatchObject({ recordsRejected: expected.rejected, recordsAggregated: expected.good.length, valuesNulled: expected.nulled });
    expect(Object.keys(expected.nulled).sort()).toEqual([...METRICS].sort());
    expect(new Set(rejects.map((r) => r.reason))).toEqual(new Set(['field "time_hour": "NA" is not a valid iso timestamp']));
    expect(summarize(job).valuesNulled).toEqual(expected.nulled);
    expect(describeIngestJob(job)).toContain(`nulled       `);
    expect(problems).toEqual([]);
    expect(rows).toBeGreaterThan(100);
  });

  it('with nullValues ["", "NA"] reads NA as missing: nothing nulled, only the records without a time rejected', async () => {
    // Prepare
    const def = await registerDataset(p, definition('flights-na', { nullValues: ['', 'NA'] }));
    const expected = await expectedOf(file, ['', 'NA'], 'reject');

    // Act
    const job = await uploadAndWait(p, 'uploads/flights-na/flights.csv', file);
    const rejects = await listRejects(p.db, job.jobId, 10_000);
    const { problems } = await compareQueries(p.db, def, expected.good, def.rollups, GRANULARITIES.slice(0, 2));

    // Assess
    expect(job).toMatchObject({ recordsRejected: expected.rejected, recordsAggregated: expected.good.length, valuesNulled: {} });
    expect(new Set(rejects.map((r) => r.reason))).toEqual(new Set(['missing time: field "time_hour" is "NA", a null value']));
    expect(problems).toEqual([]);
  });
});
