import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePostgres, startPglite, type LocalPostgres } from '../../../../localstack/services/pglite.ts';

const scratch = mkdtempSync(join(tmpdir(), 'batchflow-pglite-'));
let shared: LocalPostgres;
const pools: postgres.Sql[] = [];

/** A postgres.js pool as lib/store/db.ts opens them, closed after the file. */
function pool(url: string, max: number): postgres.Sql {
  const sql = postgres(url, { max, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  pools.push(sql);
  return sql;
}

beforeAll(async () => {
  shared = await startPglite({ dataDir: join(scratch, 'shared'), port: 0 });
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
  await shared.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('PGlite over the wire protocol', () => {
  it('gives each of many concurrent connections the results of its own parameterised queries', async () => {
    // Prepare
    const clients = Array.from({ length: 6 }, () => pool(shared.url, 4));

    // Act
    const results = await Promise.all(
      clients.flatMap((sql, c) =>
        Array.from({ length: 100 }, (_, i) => sql`select ${c * 1000 + i}::int as n, ${`v${c}-${i}`}::text as s`),
      ),
    );

    // Assess
    const expected = clients.flatMap((_, c) => Array.from({ length: 100 }, (_, i) => ({ n: c * 1000 + i, s: `v${c}-${i}` })));
    expect(results.map(([row]) => ({ n: row.n, s: row.s }))).toEqual(expected);
  });

  it('runs transactions with INSERT ... ON CONFLICT from several connections without losing an update', async () => {
    // Prepare
    const admin = pool(shared.url, 1);
    await admin`create table counters (k text primary key, n bigint not null)`;
    await admin`create table batches (id int primary key)`;
    const clients = Array.from({ length: 4 }, () => pool(shared.url, 3));
    const perConnection = 25;

    // Act
    await Promise.all(
      clients.flatMap((sql, c) =>
        Array.from({ length: 3 }, async (_, k) => {
          for (let i = 0; i < perConnection; i++) {
            await sql.begin(async (tx) => {
              await tx`insert into batches (id) values (${(c * 3 + k) * 1000 + i})`;
              for (const key of ['a', 'b']) {
                await tx`insert into counters (k, n) values (${key}, 1) on conflict (k) do update set n = counters.n + excluded.n`;
              }
            });
          }
        }),
      ),
    );

    // Assess
    const transactions = clients.length * 3 * perConnection;
    expect(await admin`select k, n from counters order by k`).toEqual([
      { k: 'a', n: BigInt(transactions) },
      { k: 'b', n: BigInt(transactions) },
    ]);
    expect((await admin`select count(*)::int as c from batches`)[0].c).toBe(transactions);
  });

  it('rolls back the transaction of a client that leaves mid-transaction and serves the others', async () => {
    // Prepare
    const admin = pool(shared.url, 1);
    await admin`create table leftovers (id int primary key)`;
    const leaving = postgres(shared.url, { max: 1, onnotice: () => {} });
    const reserved = await leaving.reserve();
    await reserved`begin`;
    await reserved`insert into leftovers (id) values (1)`;

    // Act
    await leaving.end({ timeout: 0 });
    const [{ c }] = await admin`select count(*)::int as c from leftovers`;

    // Assess
    expect(c).toBe(0);
  });

  it('keeps its data in the data directory across restarts', async () => {
    // Prepare
    const dataDir = join(scratch, 'restart');
    const first = await startPglite({ dataDir, port: 0 });
    const before = postgres(first.url, { max: 1, onnotice: () => {} });
    await before`create table kept (v text)`;
    await before`insert into kept values ('still here')`;
    await before.end();
    await first.stop();

    // Act
    const second = await startPglite({ dataDir, port: 0 });
    const after = postgres(second.url, { max: 1, onnotice: () => {} });
    const rows = await after`select v from kept`;
    await after.end();
    await second.stop();

    // Assess
    expect(rows).toEqual([{ v: 'still here' }]);
  });

  it('refuses a data directory that a running stack holds, and serves on a free port when the preferred one is taken', async () => {
    // Prepare
    const taken = Number(new URL(shared.url).port);

    // Act
    const clash = await startPglite({ dataDir: join(scratch, 'shared'), port: 0 }).then(
      (started) => (void started.stop(), 'started'),
      (err: Error) => err.message,
    );
    const other = await startPglite({ dataDir: join(scratch, 'other'), port: taken });
    const port = Number(new URL(other.url).port);
    await other.stop();

    // Assess
    expect(clash).toMatch(/in use by process/);
    expect(port).not.toBe(taken);
  });

  it('uses a given database URL as it is', async () => {
    // Prepare
    const url = 'postgres://someone@db.example:5432/app';

    // Act
    const given = await ensurePostgres({ url });

    // Assess
    expect(given).toMatchObject({ url, source: 'url' });
  });
});
