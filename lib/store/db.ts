import postgres from 'postgres';

/** A connection pool bound to batchflow's schema: every table name goes through `table()`. */
export interface Db {
  readonly sql: postgres.Sql;
  readonly schema: string;
  /**
   * Whether the server takes COPY FROM STDIN: real Postgres does; PGlite served over the wire
   * does not (the statement never completes), so partial aggregates go in as INSERTs there.
   */
  readonly copy: boolean;
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
  | 'rollup_partials'
  | 'analytics_jobs'
  | 'analytics_windows'
  | 'analytics_results'
  | 'analytics_runs'
  | 'performance_metrics'
  | 'tuned_settings'
  | 'tuning_history'
  | 'resource_usage';

export interface DbOptions {
  readonly url: string;
  readonly schema: string;
  /** Connections this process may open. */
  readonly max?: number;
  /** See Db.copy. @default true */
  readonly copy?: boolean;
}

/**
 * Session limits every connection starts with, in milliseconds (startup parameters: no extra
 * round trip, no SET for a pooler to replay). Each one turns a stuck session into an error the function sees,
 * well inside the functions' 300 s timeout, instead of a Lambda killed with its locks still held.
 * https://www.postgresql.org/docs/current/runtime-config-client.html
 */
export const SESSION_TIMEOUTS = {
  // No statement of ours is meant to run long: a merge upserts 2,000 cells per statement (well under
  // a second here), an analytics window merges 53,760 cells in 0.5 s. 120 s leaves the function
  // time to retry or report the failure, and is still generous for a migration's DDL.
  statement_timeout: 120_000,
  // Lock waits are other merges of the same partition or rollup rows (seconds each). Below
  // statement_timeout, so a stuck lock fails as 55P03 (transient: retried), not as a timeout.
  lock_timeout: 60_000,
  // No idle_in_transaction_session_timeout: postgres.js 3.4.9 may go on sending a killed
  // transaction's statements on a new connection outside any transaction, where they commit
  // (porsager/postgres#1216) — a merge without its partition lock, counted twice. A killed Lambda
  // closes its socket, and Postgres then rolls the transaction back anyway.
} as const;

/** Opens a pool (lazily: no connection until the first query). */
export function connectDb(options: DbOptions): Db {
  const sql = postgres(options.url, {
    max: options.max ?? 4,
    // Lambda freezes idle containers; close idle connections rather than let RDS Proxy or
    // Postgres drop them under us.
    idle_timeout: 60,
    connect_timeout: 15,
    connection: { ...SESSION_TIMEOUTS },
    onnotice: () => {},
    types: {
      // int8 counts come back as numbers: exact up to 2^53 records, far beyond any dataset here.
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
      // postgres.js reads timestamps with `new Date("0001-01-01 00:00:00+00")`, and V8's legacy
      // parser takes years 0–49 as 2000–2049 and 50–99 as 1950–1999 (year 1 came back as 2001);
      // as ISO 8601 (`T`, `±HH:MM`) every year 0001–9999 reads as written.
      date: {
        to: 1184,
        from: [1082, 1114, 1184],
        serialize: (x: Date | string) => (x instanceof Date ? x : new Date(x)).toISOString(),
        parse: (x: string) => new Date(x.replace(' ', 'T').replace(/(T[\d:.]+[+-]\d\d)$/, '$1:00')),
      },
    },
  });
  return {
    sql,
    schema: options.schema,
    copy: options.copy ?? true,
    table: (name) => sql(`${options.schema}.${name}`),
    close: () => sql.end({ timeout: 5 }),
  };
}
