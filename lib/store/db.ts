import postgres from 'postgres';

/** A connection pool bound to batchflow's schema: every table name goes through `table()`. */
export interface Db {
  readonly sql: postgres.Sql;
  readonly schema: string;
  /** A schema-qualified identifier fragment, e.g. `db.table('rollups')` → "batchflow"."rollups". */
  table(name: TableName): postgres.Helper<string>;
  close(): Promise<void>;
}

/** A transaction handle (postgres.js TransactionSql). */
export type Tx = postgres.TransactionSql;

export type TableName =
  | 'schema_migrations'
  | 'datasets'
  | 'batch_jobs'
  | 'batch_partitions'
  | 'rejected_records'
  | 'rollups'
  | 'analytics_jobs'
  | 'analytics_windows'
  | 'analytics_results'
  | 'analytics_runs'
  | 'performance_metrics'
  | 'tuned_settings'
  | 'tuning_history';

export interface DbOptions {
  readonly url: string;
  readonly schema: string;
  /** Connections this process may open. */
  readonly max?: number;
}

/** Opens a pool (lazily: no connection until the first query). */
export function connectDb(options: DbOptions): Db {
  const sql = postgres(options.url, {
    max: options.max ?? 4,
    // Lambda freezes idle containers; close idle connections rather than let RDS Proxy or
    // Postgres drop them under us.
    idle_timeout: 60,
    connect_timeout: 15,
    onnotice: () => {},
    types: {
      // int8 counts come back as numbers: exact up to 2^53 records, far beyond any dataset here.
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  });
  return {
    sql,
    schema: options.schema,
    table: (name) => sql(`${options.schema}.${name}`),
    close: () => sql.end({ timeout: 5 }),
  };
}
