import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeFormatError, createTimeParser, parseIsoUtc, timePatternProblem, type TimeFormat } from '../../../lib/parse/time.ts';
import { bytesOf } from './readRecords.ts';

// The oracle is DuckDB: its strptime, its TIMESTAMP/TIMESTAMPTZ casts, and its ICU time zones
// (timezone(zone, local timestamp)). DuckDB keeps microseconds; batchflow keeps milliseconds,
// truncated toward the past, so each expectation is floor(epoch_us / 1000).

let duck: DuckDBInstance;
let db: DuckDBConnection;

beforeAll(async () => {
  duck = await DuckDBInstance.create(':memory:', { threads: '1' });
  db = await duck.connect();
});

afterAll(() => {
  db.closeSync();
  duck.closeSync();
});

/** A case for DuckDB: `text` read by `sql`, an expression over the columns text and zone. */
interface OracleCase {
  readonly text: string;
  readonly zone: string;
}

/** epoch ms (floored) of each case as DuckDB computes `expression` (over columns `text`, `zone`); null where DuckDB fails. */
async function duckTimes(cases: readonly OracleCase[], expression: string): Promise<(number | null)[]> {
  await db.run('create or replace table cases (i integer, text varchar, zone varchar)');
  const appender = await db.createAppender('cases');
  cases.forEach((c, i) => {
    appender.appendInteger(i);
    appender.appendVarchar(c.text);
    appender.appendVarchar(c.zone);
    appender.endRow();
  });
  appender.closeSync();
  const reader = await db.runAndReadAll(`select i, epoch_us(${expression})::varchar from cases order by i`);
  return reader.getRows().map((row) => (row[1] === null ? null : Number(floorDiv(BigInt(row[1] as string), 1000n))));
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

// One parser per format and zone, as a reader makes one per partition.
const parsers = new Map<string, ReturnType<typeof createTimeParser>>();
const parse = (format: TimeFormat, zone: string, text: string) => {
  const bytes = bytesOf(text);
  const key = `${format}\u0000${zone}`;
  let parser = parsers.get(key);
  if (parser === undefined) parsers.set(key, (parser = createTimeParser(format, zone)));
  return parser(bytes, 0, bytes.length);
};

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Zones with their oddities: 30-minute DST (Lord Howe), +12:45 (Chatham), negative DST (Dublin), midnight gaps (Sao Paulo 2018, Santiago). */
const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/Santiago', 'Asia/Kolkata', 'Europe/Dublin', 'America/Sao_Paulo', 'Europe/Moscow', 'Asia/Kathmandu'];

describe('iso in a time zone, against DuckDB', () => {
  it('reads every half hour of a year, DST gaps and repeats included, in each zone as DuckDB casts them', async () => {
    // Prepare: every 30 minutes of local wall time through 2024 (2018 for Sao Paulo's last DST,
    // 2014 for Moscow's change between two standard times), written and resolved by DuckDB.
    const cases: { text: string; zone: string; expected: number }[] = [];
    for (const zone of ZONES) {
      const year = zone === 'America/Sao_Paulo' ? 2018 : zone === 'Europe/Moscow' ? 2014 : 2024;
      const reader = await db.runAndReadAll(`
        select strftime(t, '%Y-%m-%d %H:%M:%S'), epoch_us(timezone('${zone}', t))::varchar
        from generate_series(timestamp '${year}-01-01', timestamp '${year}-12-31 23:30', interval 30 minute) as g(t)`);
      for (const [text, us] of reader.getRows()) cases.push({ text: text as string, zone, expected: Number(floorDiv(BigInt(us as string), 1000n)) });
    }

    // Act
    const ours = cases.map((c) => parse('iso', c.zone, c.text));

    // Assess
    const differing = cases.map((c, i) => ({ ...c, ours: ours[i] })).filter((c) => c.ours !== c.expected).slice(0, 5);
    expect(differing).toEqual([]);
    expect(cases.length).toBe((ZONES.length - 2) * 366 * 48 + 2 * 365 * 48);
  });

  it('reads generated ISO texts, with and without offsets, as DuckDB casts them', async () => {
    // Prepare
    const arbitrary = fc.record({
      ms: fc.integer({ min: Date.UTC(1, 0, 1), max: Date.UTC(9999, 11, 31) }),
      zone: fc.constantFrom(...ZONES),
      separator: fc.constantFrom('T', ' '),
      fraction: fc.integer({ min: 0, max: 6 }),
      micros: fc.integer({ min: 0, max: 999_999 }),
      offset: fc.option(fc.record({ minutes: fc.integer({ min: -14 * 60, max: 14 * 60 }), form: fc.constantFrom('HH', 'HHMM', 'HH:MM', 'Z') })),
      dateOnly: fc.boolean(),
    });
    const samples = fc.sample(arbitrary, { numRuns: 3000, seed: 12 });
    const cases = samples.map((s) => {
      const local = new Date(Math.floor(s.ms / 1000) * 1000).toISOString().slice(0, 19);
      if (s.dateOnly) return { text: local.slice(0, 10), zone: s.zone, withOffset: false };
      const fraction = s.fraction === 0 ? '' : `.${pad(s.micros, 6).slice(0, s.fraction)}`;
      let text = `${local.replace('T', s.separator)}${fraction}`;
      if (s.offset !== null) {
        const whole = s.offset.form === 'HH' ? Math.trunc(s.offset.minutes / 60) * 60 : s.offset.minutes;
        const sign = whole < 0 ? '-' : '+';
        const h = pad(Math.floor(Math.abs(whole) / 60));
        const m = pad(Math.abs(whole) % 60);
        text += s.offset.form === 'Z' ? 'Z' : s.offset.form === 'HH' ? `${sign}${h}` : s.offset.form === 'HHMM' ? `${sign}${h}${m}` : `${sign}${h}:${m}`;
      }
      return { text, zone: s.zone, withOffset: s.offset !== null };
    });

    // Act
    const ours = cases.map((c) => parse('iso', c.zone, c.text));
    const local = await duckTimes(cases, 'timezone(zone, text::timestamp)');
    const absolute = await duckTimes(cases, 'text::timestamptz');

    // Assess
    const expected = cases.map((c, i) => (c.withOffset ? absolute[i] : local[i]));
    const differing = cases.map((c, i) => ({ ...c, ours: ours[i], expected: expected[i] })).filter((c) => c.ours !== c.expected).slice(0, 5);
    expect(differing).toEqual([]);
  });
});

describe('strftime-style patterns, against DuckDB strptime', () => {
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const FULL_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

  interface Parts {
    y: number;
    mo: number;
    d: number;
    h: number;
    mi: number;
    s: number;
    micros: number;
    weekday: number;
    dayOfYear: number;
  }

  /** Each pattern with DuckDB's spelling of it and how the test writes a time in it. */
  const PATTERNS: { ours: string; duck: string; write: (p: Parts) => string }[] = [
    { ours: '%d/%m/%Y %H:%M', duck: '%d/%m/%Y %H:%M', write: (p) => `${pad(p.d)}/${pad(p.mo)}/${p.y} ${pad(p.h)}:${pad(p.mi)}` },
    { ours: '%d/%m/%Y %H:%M', duck: '%d/%m/%Y %H:%M', write: (p) => `${p.d}/${p.mo}/${p.y} ${p.h}:${pad(p.mi)}` },
    { ours: '%Y%m%dT%H%M%S', duck: '%Y%m%dT%H%M%S', write: (p) => `${p.y}${pad(p.mo)}${pad(p.d)}T${pad(p.h)}${pad(p.mi)}${pad(p.s)}` },
    { ours: '%Y-%m-%d %H:%M:%S.%f', duck: '%Y-%m-%d %H:%M:%S.%f', write: (p) => `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.micros, 6)}` },
    { ours: '%Y-%m-%d %H:%M:%S.%f', duck: '%Y-%m-%d %H:%M:%S.%f', write: (p) => `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad(p.micros, 6).slice(0, 3)}` },
    { ours: '%m/%d/%Y %I:%M %p', duck: '%m/%d/%Y %I:%M %p', write: (p) => `${pad(p.mo)}/${pad(p.d)}/${p.y} ${pad(p.h % 12 === 0 ? 12 : p.h % 12)}:${pad(p.mi)} ${p.h < 12 ? 'AM' : 'PM'}` },
    { ours: '%d %b %Y %H:%M', duck: '%d %b %Y %H:%M', write: (p) => `${pad(p.d)} ${MONTHS[p.mo - 1]} ${p.y} ${pad(p.h)}:${pad(p.mi)}` },
    { ours: '%A, %B %d, %Y', duck: '%A, %B %d, %Y', write: (p) => `${DAYS[p.weekday]}, ${FULL_MONTHS[p.mo - 1]} ${pad(p.d)}, ${p.y}` },
    { ours: '%Y-%j %H', duck: '%Y-%j %H', write: (p) => `${p.y}-${pad(p.dayOfYear, 3)} ${pad(p.h)}` },
    { ours: '%y%m%d', duck: '%y%m%d', write: (p) => `${pad(p.y % 100)}${pad(p.mo)}${pad(p.d)}` },
    { ours: '%F %T', duck: '%Y-%m-%d %H:%M:%S', write: (p) => `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}` },
  ];

  it('reads generated times in each pattern and zone as DuckDB does', async () => {
    // Prepare
    const arbitrary = fc.record({
      ms: fc.integer({ min: Date.UTC(1969, 0, 1), max: Date.UTC(2068, 11, 31) }),
      micros: fc.integer({ min: 0, max: 999_999 }),
      pattern: fc.integer({ min: 0, max: PATTERNS.length - 1 }),
      zone: fc.constantFrom(...ZONES),
    });
    const cases = fc.sample(arbitrary, { numRuns: 3000, seed: 7 }).map((s) => {
      const date = new Date(s.ms);
      const y = date.getUTCFullYear();
      const parts: Parts = {
        y,
        mo: date.getUTCMonth() + 1,
        d: date.getUTCDate(),
        h: date.getUTCHours(),
        mi: date.getUTCMinutes(),
        s: date.getUTCSeconds(),
        micros: s.micros,
        weekday: date.getUTCDay(),
        dayOfYear: Math.floor((Date.UTC(y, date.getUTCMonth(), date.getUTCDate()) - Date.UTC(y, 0, 1)) / 86_400_000) + 1,
      };
      const pattern = PATTERNS[s.pattern];
      return { text: pattern.write(parts), zone: s.zone, ours: pattern.ours, duck: pattern.duck };
    });

    // Act
    const ours = cases.map((c) => parse(c.ours, c.zone, c.text));
    const expected: (number | null)[] = [];
    for (const pattern of new Set(PATTERNS.map((p) => p.duck))) {
      const subset = cases.map((c, i) => ({ ...c, i })).filter((c) => c.duck === pattern);
      const times = await duckTimes(subset, `timezone(zone, strptime(text, '${pattern}'))`);
      subset.forEach((c, k) => (expected[c.i] = times[k]));
    }

    // Assess
    const differing = cases.map((c, i) => ({ ...c, ours: ours[i], expected: expected[i] })).filter((c) => c.ours !== c.expected).slice(0, 5);
    expect(differing).toEqual([]);
  });

  it('reads %z offsets as DuckDB does, and Z as UTC', async () => {
    // Prepare
    const offsets = ['+00', '-03', '+0530', '-0930', '+05:45', '-11:00'];
    const cases = fc
      .sample(fc.record({ ms: fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2100, 0, 1) }), offset: fc.constantFrom(...offsets) }), { numRuns: 500, seed: 3 })
      .map((s) => ({ text: `${new Date(s.ms).toISOString().slice(0, 19)}${s.offset}`, zone: 'America/New_York' }));

    // Act
    const ours = cases.map((c) => parse('%Y-%m-%dT%H:%M:%S%z', c.zone, c.text));
    const expected = await duckTimes(cases, `strptime(text, '%Y-%m-%dT%H:%M:%S%z')`);
    const zulu = parse('%Y-%m-%dT%H:%M:%S%z', 'Asia/Tokyo', '2013-01-01T05:00:00Z');
    const literalZ = parse('%Y%m%dT%H%M%SZ', 'Asia/Tokyo', '20130101T050000Z');

    // Assess
    expect(ours).toEqual(expected);
    expect(zulu).toBe(Date.UTC(2013, 0, 1, 5));
    expect(literalZ).toBe(Date.UTC(2013, 0, 1, 5));
  });
});

describe('fractions, epochs and rejects', () => {
  it('truncates 7 to 9 fraction digits to the millisecond, toward the past', () => {
    // Prepare
    const texts = ['2026-12-01 07:00:00.1239999', '2026-12-01 07:00:00.99999999', '1969-12-31 23:59:59.999999999+00', '2026-12-01T07:00:00,5Z'];

    // Act
    const values = texts.map((t) => parse('iso', 'UTC', t));
    const viaPattern = parse('%Y-%m-%d %H:%M:%S.%f', 'UTC', '2026-12-01 07:00:00.123999999');

    // Assess
    expect(values).toEqual([Date.UTC(2026, 11, 1, 7, 0, 0, 123), Date.UTC(2026, 11, 1, 7, 0, 0, 999), -1, Date.UTC(2026, 11, 1, 7, 0, 0, 500)]);
    expect(viaPattern).toBe(Date.UTC(2026, 11, 1, 7, 0, 0, 123));
  });

  it('reads the Postgres export form 2026-12-01 07:00:00.123456+00', () => {
    // Act
    const value = parseIsoUtc(bytesOf('2026-12-01 07:00:00.123456+00'), 0, 29);

    // Assess
    expect(value).toBe(Date.UTC(2026, 11, 1, 7, 0, 0, 123));
  });

  it('floors epoch_us and epoch_ns to the millisecond in decimal, as BigInt division does', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n) * 1_000_000n, max: (10n ** 15n) * 1_000_000n }), (ns) => {
        // Prepare
        const us = floorDiv(ns, 1000n);

        // Act
        const fromNs = parse('epoch_ns', 'UTC', String(ns));
        const fromUs = parse('epoch_us', 'UTC', String(us));

        // Assess
        expect(fromNs).toBe(Number(floorDiv(ns, 1_000_000n)));
        expect(fromUs).toBe(Number(floorDiv(us, 1000n)));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['epoch_us', '12x'],
    ['epoch_us', ''],
    ['epoch_ns', '1.2.3'],
    ['epoch_ns', '-'],
    ['epoch_ns', '1e9'],
    ['%d/%m/%Y', '31/02/2024'],
    ['%d/%m/%Y', '01/13/2024'],
    ['%d/%m/%Y', '01/01/2024 '],
    ['%d/%m/%Y %H:%M', '01/01/2024 24:00'],
    ['%m/%d/%Y %I:%M %p', '01/01/2024 13:00 PM'],
    ['%m/%d/%Y %I:%M %p', '01/01/2024 00:00 AM'],
    ['%Y-%j', '2023-366'],
    ['%Y%m%dT%H%M%SZ', '20130101T050000'],
    ['iso', '2024-01-16T10:00+1'],
    ['iso', '2024-01-16T10:00+01:0'],
  ])('rejects %s %j', (format, text) => {
    // Act
    const value = parse(format, 'Europe/Berlin', text);

    // Assess
    expect(value).toBeNaN();
  });

  it.each([
    ['%Q', '%Q in "%Q" is not a supported directive'],
    ['%H:%M', '"%H:%M" does not read a whole date'],
    ['%Y-%m-%d %I:%M', '"%Y-%m-%d %I:%M": %I (12-hour clock) needs %p'],
    ['%Y-%m-%d %Y', '"%Y-%m-%d %Y" reads the year twice (%Y)'],
    ['%Y-%m-%d %H %I %p', '"%Y-%m-%d %H %I %p" reads both %H and %I'],
    ['%Y-%j-%d', '"%Y-%j-%d" reads both %j and a month or day'],
    ['%Y-%m-%d%', '"%Y-%m-%d%" ends with a lone "%"'],
  ])('names the problem of the pattern %j', (pattern, problem) => {
    // Act
    const found = timePatternProblem(pattern);

    // Assess
    expect(found).toContain(problem);
  });

  it('refuses a time zone that is not an IANA name', () => {
    // Act
    const create = () => createTimeParser('iso', 'Mars/Olympus');

    // Assess
    expect(create).toThrow(TimeFormatError);
    expect(create).toThrow('"Mars/Olympus" is not an IANA time zone name');
  });
});
