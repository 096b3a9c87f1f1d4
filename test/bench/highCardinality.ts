import { prng, writeCsv } from '../../localstack/demo/sampleData.ts';

/**
 * A high-cardinality file shaped like real sensor exports (e.g. a year of hourly weather
 * observations): three dimensions of 3 to 60 values, four metrics, a year of data in no time
 * order. Rolled up by [station], [kind], [kind, station] and the total at 1-hour granularity, a
 * million records make ~725,000 groups — under two records per group, where the 5M-record sales
 * file has over a hundred.
 */
export const highCardinalityDataset = {
  name: 'observations',
  format: 'csv',
  timeColumn: 'observed_at',
  timeFormat: 'iso',
  granularity: '1-hour',
  dimensions: ['station', 'kind', 'source'],
  metrics: ['temperature', 'humidity', 'wind', 'pressure'],
  rollups: [['station'], ['kind'], ['kind', 'station'], []],
} as const;

const STATIONS = 60;
const KINDS = ['synop', 'metar', 'buoy'] as const;
const SOURCES = 12;
const YEAR_MS = 365 * 86_400_000;

/**
 * Writes `records` rows `observed_at,station,kind,source,temperature,humidity,wind,pressure`
 * (~80 bytes a row) scattered over 2023: stations by a Zipf-like law (a few report often, most
 * rarely), normal temperatures and pressures, integer humidity, log-normal wind with 2% missing.
 * Deterministic for a seed.
 */
export async function writeHighCardinalityCsv(path: string, options: { records: number; seed?: number }): Promise<number> {
  const random = prng(options.seed ?? 7);
  const normal = () => (random() + random() + random() + random() - 2) * 1.7;
  const t0 = Date.UTC(2023, 0, 1);
  // Zipf weights 1/(k+1)^1.1, as a cumulative table searched by bisection.
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 0; k < STATIONS; k++) cumulative.push((total += 1 / Math.pow(k + 1, 1.1)));
  const station = () => {
    const u = random() * total;
    let lo = 0;
    let hi = STATIONS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return writeCsv(path, 'observed_at,station,kind,source,temperature,humidity,wind,pressure', options.records, () => {
    const ts = new Date(t0 + Math.floor(random() * YEAR_MS)).toISOString();
    const s = station();
    const kind = KINDS[(s + Math.floor(random() * 1.4)) % KINDS.length];
    const source = `src-${Math.floor(random() * SOURCES)}`;
    const temperature = (12 + 8 * normal() + (s % 10)).toFixed(1);
    const humidity = Math.min(100, Math.max(0, Math.round(65 + 12 * normal())));
    const wind = random() < 0.02 ? '' : Math.exp(1 + 0.6 * normal()).toFixed(2);
    const pressure = (1013 + 6 * normal()).toFixed(1);
    return `${ts},ST${String(s).padStart(4, '0')},${kind},${source},${temperature},${humidity},${wind},${pressure}`;
  });
}
