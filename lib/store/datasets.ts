import { definitionChange } from '../datasets/change.ts';
import { parseDatasetDefinition, type DatasetDefinition } from '../datasets/definition.ts';
import { BatchflowError } from '../errors.ts';
import type { Db, Tx } from './db.ts';

/** A definition change that would break the aggregates already loaded (see definitionChange). */
export class DatasetChangeRefusedError extends BatchflowError {
  override name = 'DatasetChangeRefusedError';
  constructor(
    readonly dataset: string,
    readonly problems: readonly string[],
  ) {
    super(
      `dataset "${dataset}" has data loaded, so its definition cannot change this way: ${problems.join('; ')}. ` +
        `To proceed, define a new dataset (another name), or delete this one with its data (batchflow datasets delete ${dataset}) and load it again`,
    );
  }
}

/** What putDataset did. */
export interface PutDatasetOutcome {
  readonly created: boolean;
  /** Changes that apply to data loaded from now on (see definitionChange); empty when created. */
  readonly newDataOnly: readonly string[];
}

/**
 * Creates or replaces a dataset definition. Once data is loaded (any ingestion job or stored
 * aggregate), a replacement that would break what is stored is refused (DatasetChangeRefusedError);
 * the row lock makes the check and the write one step against concurrent puts and deletes.
 */
export async function putDataset(db: Db, def: DatasetDefinition): Promise<PutDatasetOutcome> {
  return db.sql.begin(async (tx) => {
    const [row] = await tx`select definition from ${db.table('datasets')} where name = ${def.name} for update`;
    const change = row ? definitionChange(parseDatasetDefinition(row.definition), def) : { refused: [], newDataOnly: [] };
    if (change.refused.length > 0 && (await datasetHasData(db, def.name, tx))) throw new DatasetChangeRefusedError(def.name, change.refused);
    await tx`
      insert into ${db.table('datasets')} (name, definition)
      values (${def.name}, ${tx.json(def as never)})
      on conflict (name) do update set definition = excluded.definition, updated_at = clock_timestamp()`;
    return { created: !row, newDataOnly: change.newDataOnly };
  });
}

/**
 * Whether anything was loaded under a dataset: an ingestion job or stored aggregates. A `created`
 * job (opened through the API, not started) has read nothing, and takes the definition as it is
 * when it starts.
 */
export async function datasetHasData(db: Db, name: string, tx: Tx | Db['sql'] = db.sql): Promise<boolean> {
  const [row] = await tx`select
      exists (select 1 from ${db.table('batch_jobs')} where dataset = ${name} and status <> 'created')
      or exists (select 1 from ${db.table('rollups')} where dataset = ${name})
      or exists (select 1 from ${db.table('rollup_partials')} where dataset = ${name}) as loaded`;
  return row!.loaded as boolean;
}

/** Why deleteDataset would not delete, or what it deleted. */
export type DatasetDeletion =
  | { readonly refused: 'not-found' | 'in-use'; readonly message: string }
  | {
      readonly refused?: undefined;
      readonly ingestJobs: number;
      /** Rows of aggregates deleted, compacted and partial. */
      readonly aggregateRows: number;
      /** Analytics jobs deleted with it (only with force); their schedules are the caller's to remove. */
      readonly analyticsJobs: readonly string[];
    };

/**
 * Deletes a dataset with everything loaded under it, in one transaction: its aggregates (compacted
 * and partial), its ingestion jobs with their partitions, rejects and metrics, and its definition.
 * Refused while one of its jobs is splitting or processing, or an analytics job reads it, unless
 * `force`: then running jobs are deleted too (their in-flight partitions find no job and are
 * dropped by the processors) and so are the analytics jobs, with their windows and results.
 */
export async function deleteDataset(db: Db, name: string, options: { readonly force?: boolean } = {}): Promise<DatasetDeletion> {
  return db.sql.begin(async (tx) => {
    const [row] = await tx`select 1 from ${db.table('datasets')} where name = ${name} for update`;
    if (!row) return { refused: 'not-found' as const, message: `no dataset named "${name}"` };
    const running = await tx`select job_id from ${db.table('batch_jobs')} where dataset = ${name} and status in ('splitting', 'processing') order by job_id`;
    const readers = await tx`select name from ${db.table('analytics_jobs')} where dataset = ${name} order by name`;
    if (!options.force && (running.length > 0 || readers.length > 0)) {
      const uses = [
        ...(running.length > 0 ? [`ingestion job(s) ${running.map((r) => r.job_id).join(', ')} still running (stop them with batchflow stop <jobId>)`] : []),
        ...(readers.length > 0 ? [`analytics job(s) ${readers.map((r) => `"${r.name}"`).join(', ')} read it (delete them with batchflow analytics delete <name>)`] : []),
      ];
      return { refused: 'in-use' as const, message: `dataset "${name}" is in use: ${uses.join('; ')}; or pass --force to delete them with it` };
    }
    // Waits for compactions of this dataset under way (they hold the lock shared; new ones skip it).
    await tx`select pg_advisory_xact_lock(${datasetDeletionLock(db, name)})`;
    // Jobs first: their partitions' row locks are what a processor's merge takes before it commits,
    // so a merge either commits before this (and its partials are deleted below) or finds its
    // partition gone and rolls back.
    const jobs = await tx`delete from ${db.table('batch_jobs')} where dataset = ${name}`;
    const partial = await tx`delete from ${db.table('rollup_partials')} where dataset = ${name}`;
    const compacted = await tx`delete from ${db.table('rollups')} where dataset = ${name}`;
    // Runs keep no key to their job (a run's history outlives an edit of the job), so go by name.
    await tx`delete from ${db.table('analytics_runs')} where job in (select name from ${db.table('analytics_jobs')} where dataset = ${name})`;
    await tx`delete from ${db.table('analytics_jobs')} where dataset = ${name}`;
    await tx`delete from ${db.table('datasets')} where name = ${name}`;
    return { ingestJobs: jobs.count, aggregateRows: compacted.count + partial.count, analyticsJobs: readers.map((r) => r.name as string) };
  });
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

/**
 * The advisory lock between deleting a dataset (exclusive) and compacting it (shared, tried without
 * waiting): two int4 keys, the schema's namespace and the dataset.
 */
export const datasetDeletionLock = (db: Db, dataset: string) => db.sql`hashtext(${`${db.schema}/dataset`}), hashtext(${dataset})`;
