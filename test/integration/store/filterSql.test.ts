import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  evaluateFilter,
  FilterError,
  formatFilter,
  parseFilter,
  type FilterExpr,
} from '../../../lib/analytics/filter.ts';
import { filterToSql } from '../../../lib/store/filterSql.ts';
import { filterExprs, TRICKY_VALUES } from '../../unit/analytics/filterArbitraries.ts';

/** The rollup's dimensions, in the order of its `dims` array. */
const DIMENSIONS = ['region', 'status', 'code'] as const;
const dimIndex = (d: string) => DIMENSIONS.indexOf(d as (typeof DIMENSIONS)[number]);

interface Row {
  readonly id: number;
  /** Shorter than DIMENSIONS or holding null where a value is missing. */
  readonly dims: (string | null)[];
}

const schema = `it_filter_${randomBytes(4).toString('hex')}`;
let sql: postgres.Sql;
let rows: Row[];

/** Every pair of tricky values for two dimensions and a few for the third, plus rows with values missing. */
function generateRows(): Row[] {
  const pool = [...TRICKY_VALUES];
  const out: Row[] = [];
  for (const a of pool) for (const b of pool) out.push({ id: out.length + 1, dims: [a, b, pool[(out.length * 7) % pool.length]] });
  out.push({ id: out.length + 1, dims: [null, 'a', '42'] });
  out.push({ id: out.length + 1, dims: ['a', null, null] });
  out.push({ id: out.length + 1, dims: ['a'] });
  out.push({ id: out.length + 1, dims: [] });
  return out;
}

/** A row's values as evaluateFilter reads them: a null or absent element is a missing value. */
function valuesOf(row: Row): Record<string, string> {
  const values: Record<string, string> = {};
  DIMENSIONS.forEach((d, i) => {
    const v = row.dims[i];
    if (v !== null && v !== undefined) values[d] = v;
  });
  return values;
}

async function idsMatching(expr: FilterExpr): Promise<number[]> {
  const found = await sql<{ id: number }[]>`
    select id from ${sql(schema)}.cells where ${filterToSql(expr, sql, dimIndex)} order by id`;
  return found.map((r) => r.id);
}

function idsExpected(expr: FilterExpr): number[] {
  return rows.filter((r) => evaluateFilter(expr, valuesOf(r))).map((r) => r.id);
}

beforeAll(async () => {
  sql = postgres(inject('databaseUrl'), { max: 2, onnotice: () => {} });
  rows = generateRows();
  await sql`create schema ${sql(schema)}`;
  await sql`create table ${sql(schema)}.cells (id int primary key, dims text[] not null)`;
  for (const r of rows) await sql`insert into ${sql(schema)}.cells (id, dims) values (${r.id}, ${r.dims}::text[])`;
});

afterAll(async () => {
  if (sql === undefined) return;
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql.end({ timeout: 5 });
});

describe('filterToSql against Postgres', () => {
  it('stores the generated rows exactly, nulls and short arrays included', async () => {
    // Prepare
    const expected = rows.map((r) => r.dims);

    // Act: as JSON, since postgres.js reads a NULL element of a text[] back as the string "NULL".
    const stored = await sql<{ dims: string }[]>`select array_to_json(dims)::text as dims from ${sql(schema)}.cells order by id`;

    // Assess
    expect(stored.map((r) => JSON.parse(r.dims))).toEqual(expected);
  });

  it('selects the same rows as evaluateFilter, for generated filters written out and parsed back', async () => {
    await fc.assert(
      fc.asyncProperty(filterExprs(DIMENSIONS, fc.constantFrom(...TRICKY_VALUES, 'absent')), async (generated) => {
        // Prepare
        const expr = parseFilter(formatFilter(generated));

        // Act
        const got = await idsMatching(expr);

        // Assess
        expect(got).toEqual(idsExpected(expr));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    'region = "a" and status != \'B\'',
    'region in ("a", "42") and not status in ("a")',
    'code = 42 or code = 7.50',
    'region = "a" or status = "a" and code = "%"',
    '(region = "a" or status = "a") and not code != "42"',
    'region != "a"',
    'status not in ("a", "")',
  ])('selects the rows of %s', async (text) => {
    // Prepare
    const expr = parseFilter(text);

    // Act
    const got = await idsMatching(expr);

    // Assess
    expect(got).toEqual(idsExpected(expr));
    expect(got.length).toBeGreaterThan(0);
  });

  it('runs the largest filter the parser accepts, 256 comparisons deep', async () => {
    // Prepare
    const text = Array.from({ length: 255 }, (_, i) => `${DIMENSIONS[i % 3]} != "v${i}"`).join(' and ');
    const expr = parseFilter(`not (${text}) or region = "a"`);

    // Act
    const got = await idsMatching(expr);

    // Assess
    expect(got).toEqual(idsExpected(expr));
    expect(got.length).toBeGreaterThan(0);
  });

  it.each(TRICKY_VALUES.map((v) => [v]))('matches the literal %j as a value, never as SQL', async (value) => {
    // Prepare: written by hand in single quotes, independently of formatFilter.
    const text = `status = '${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
    const expr = parseFilter(text);

    // Act
    const got = await idsMatching(expr);

    // Assess
    expect(got).toEqual(rows.filter((r) => r.dims[1] === value).map((r) => r.id));
    expect(got.length).toBeGreaterThan(0);
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.cells`;
    expect(n).toBe(rows.length);
  });

  it.each([
    `status = 'a'; drop table cells`,
    `status = 'a' -- comment`,
    `status = 'a' /* comment */`,
    `status = 'a' or 1 = 1`,
    `status = a' or '1' = '1`,
    `status = 'a\\'; drop table cells; --`,
    `status = "a" union select 1`,
  ])('rejects %j in the parser', async (text) => {
    // Prepare
    const input = text;

    // Act
    const parse = () => parseFilter(input);

    // Assess
    expect(parse).toThrow(FilterError);
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(schema)}.cells`;
    expect(n).toBe(rows.length);
  });

  it('refuses a dimension the rollup does not have', () => {
    // Prepare
    const expr = parseFilter('tier = "gold"');

    // Act
    const build = () => filterToSql(expr, sql, dimIndex);

    // Assess
    expect(build).toThrow(FilterError);
    expect(build).toThrow('unknown dimension "tier"');
  });
});
