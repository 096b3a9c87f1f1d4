import { parseDatasetDefinition, type DatasetDefinition } from '../datasets/definition.ts';
import type { Db } from './db.ts';

/** Creates or replaces a dataset definition. */
export async function putDataset(db: Db, def: DatasetDefinition): Promise<void> {
  const { sql } = db;
  await sql`
    insert into ${db.table('datasets')} (name, definition)
    values (${def.name}, ${sql.json(def as never)})
    on conflict (name) do update set definition = excluded.definition, updated_at = clock_timestamp()`;
}

/** The dataset named `name`, or undefined. */
export async function getDataset(db: Db, name: string): Promise<DatasetDefinition | undefined> {
  const [row] = await db.sql`select definition from ${db.table('datasets')} where name = ${name}`;
  return row ? parseDatasetDefinition(row.definition) : undefined;
}

/** Every dataset, by name. */
export async function listDatasets(db: Db): Promise<DatasetDefinition[]> {
  const rows = await db.sql`select definition from ${db.table('datasets')} order by name`;
  return rows.map((r) => parseDatasetDefinition(r.definition));
}

/** Deletes a dataset's aggregates (not its definition or job history): a fresh start for demos. */
export async function clearDatasetRollups(db: Db, name: string): Promise<number> {
  return db.sql.begin(async (tx) => {
    const compacted = await tx`delete from ${db.table('rollups')} where dataset = ${name}`;
    const partial = await tx`delete from ${db.table('rollup_partials')} where dataset = ${name}`;
    return compacted.count + partial.count;
  });
}
