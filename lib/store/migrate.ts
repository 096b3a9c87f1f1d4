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
