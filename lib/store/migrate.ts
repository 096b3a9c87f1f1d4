import type { Db } from './db.ts';
import { migrations } from './schema.ts';

/**
 * Brings the schema up to date: creates it if needed and applies, in order and each in its own
 * transaction, the migrations not yet recorded in `schema_migrations`. Safe to run concurrently
 * (an advisory lock serialises runners) and repeatedly (applied versions are skipped).
 */
export async function migrate(db: Db): Promise<number[]> {
  const { sql } = db;
  await sql`create schema if not exists ${sql(db.schema)}`;
  await sql`create table if not exists ${db.table('schema_migrations')} (
    version int primary key,
    description text not null,
    applied_at timestamptz not null default now()
  )`;
  const applied: number[] = [];
  for (const migration of migrations) {
    const done = await sql.begin(async (tx) => {
      // Transaction-scoped, so it is released by COMMIT on every connection kind (PGlite too).
      await tx`select pg_advisory_xact_lock(hashtext(${db.schema}))`;
      const [row] = await tx`select 1 from ${db.table('schema_migrations')} where version = ${migration.version}`;
      if (row) return false;
      await tx.unsafe(migration.sql(db.schema));
      await tx`insert into ${db.table('schema_migrations')} (version, description)
               values (${migration.version}, ${migration.description})`;
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}

/** Where a schema stands against this code's migrations. */
export interface SchemaStatus {
  /** Versions recorded as applied; empty when the schema (or its migrations table) does not exist. */
  readonly applied: readonly number[];
  /** Versions this code has that the schema lacks. */
  readonly missing: readonly number[];
}

/**
 * Reads which migrations a schema holds, changing nothing: for tools that only read (the CLI's
 * query and status commands), which must not create or alter a deployed schema.
 */
export async function schemaStatus(db: Db): Promise<SchemaStatus> {
  const { sql } = db;
  const [exists] = await sql<{ table: string | null }[]>`select to_regclass(quote_ident(${db.schema}) || '.schema_migrations')::text as table`;
  const applied = exists?.table
    ? (await sql<{ version: number }[]>`select version from ${db.table('schema_migrations')} order by version`).map((r) => r.version)
    : [];
  const have = new Set(applied);
  return { applied, missing: migrations.map((m) => m.version).filter((v) => !have.has(v)) };
}
