import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pRetry from 'p-retry';
import type { DatabaseConfig } from '../config.ts';
import { BatchflowError } from '../errors.ts';
import { connectDb, type Db } from '../store/db.ts';

/**
 * Opens the database a function uses: from DATABASE_URL, or on AWS from the Secrets Manager secret
 * RDS maintains ({host, port, username, password, dbname}), read once per cold start and never
 * logged.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Db> {
  const url = config.databaseUrl ?? (await urlFromSecret(config));
  return connectDb({ url, schema: config.databaseSchema, max: config.databasePoolSize, copy: config.databaseCopy });
}

async function urlFromSecret(config: DatabaseConfig): Promise<string> {
  const secretArn = config.databaseSecretArn!;
  const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  return databaseUrlFromSecret(secretArn, out.SecretString, { host: config.databaseHost, ssl: config.databaseSsl });
}

/** A database secret that is not in the RDS format; the message names the secret, never its content. */
export class DatabaseSecretError extends BatchflowError {
  override name = 'DatabaseSecretError';
}

/**
 * The connection URL from an RDS-format secret. `host` replaces the secret's (the RDS Proxy
 * endpoint); `ssl` is `require` on AWS, where RDS Proxy refuses plain connections.
 */
export function databaseUrlFromSecret(
  secretArn: string,
  secretString: string | undefined,
  options: { host?: string | undefined; ssl: 'require' | 'disable' },
): string {
  let s: { host?: string; port?: number; username?: string; password?: string; dbname?: string };
  try {
    s = JSON.parse(secretString ?? '{}');
  } catch {
    throw new DatabaseSecretError(`secret ${secretArn} is not JSON in the RDS format ({host, port, username, password, dbname})`);
  }
  const host = options.host ?? s.host;
  if (!host || !s.username) throw new DatabaseSecretError(`secret ${secretArn} lacks ${host ? 'username' : 'host'}`);
  const auth = `${encodeURIComponent(s.username)}${s.password ? `:${encodeURIComponent(s.password)}` : ''}`;
  return `postgres://${auth}@${host}:${s.port ?? 5432}/${encodeURIComponent(s.dbname ?? 'postgres')}?sslmode=${options.ssl}`;
}

/**
 * Runs `work`, again after a connection error (refused, reset, timed out, too many connections),
 * with exponential backoff. For the deploy's migration: a new RDS Proxy can accept connections
 * before its target is available, and failing the first attempt would roll the whole deploy back.
 * Any other error fails at once.
 */
export function retryOnConnectionErrors<T>(
  work: () => Promise<T>,
  options: { retries: number; minTimeoutMs: number; maxTimeoutMs: number; onRetry?: (error: Error, attempt: number, retriesLeft: number) => void },
): Promise<T> {
  return pRetry(work, {
    retries: options.retries,
    minTimeout: options.minTimeoutMs,
    maxTimeout: options.maxTimeoutMs,
    shouldRetry: (error) => isConnectionError(error),
    onFailedAttempt: (error) => {
      if (isConnectionError(error) && error.retriesLeft > 0) options.onRetry?.(error, error.attemptNumber, error.retriesLeft);
    },
  });
}

// Postgres SQLSTATEs of a database that refuses connections: too_many_connections,
// cannot_connect_now, and the connection_exception class.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
const CONNECTION_STATES = new Set(['53300', '57P03', '08000', '08001', '08003', '08004', '08006']);
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/** Whether a failure means the database could not be reached or refused a connection. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (CONNECTION_STATES.has(code) || CONNECTION_ERRNOS.has(code));
}

// SQLSTATEs after which the same work, run again, can succeed: the server went away under a
// session (admin_shutdown on a restart or pg_terminate_backend, crash_shutdown, cannot_connect_now
// during recovery), the transaction lost a race (serialization_failure, deadlock_detected) or a lock
// wait ran out (lock_not_available, our lock_timeout). Not query_canceled (57014, our
// statement_timeout): a statement that ran out its time will do so again; SQS redelivers it later.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
const TRANSIENT_STATES = new Set(['57P01', '57P02', '40001', '40P01', '55P03']);

/**
 * Whether a database failure is worth retrying at once: a connection error (isConnectionError,
 * including ECONNRESET and 53300 too_many_connections), a server shutdown, a serialization failure,
 * a deadlock or a lock timeout.
 */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return isConnectionError(err) || (typeof code === 'string' && TRANSIENT_STATES.has(code));
}

/** How `retryTransient` retries. */
export interface TransientRetryOptions {
  /** Retries after the first attempt. */
  readonly retries: number;
  readonly minTimeoutMs: number;
  readonly maxTimeoutMs: number;
  /** Called before each retry, with the error and the attempt that failed. */
  readonly onRetry?: (error: Error, attempt: number) => void;
}

/**
 * Runs `work`, again after a transient database error (isTransient), with exponential backoff
 * jittered ×1–2 so processors that failed together (a restart) do not come back together. `work`
 * must be safe to repeat: the processor's is, because its merge transaction skips a partition
 * already completed, so a retry after a COMMIT whose reply was lost counts nothing twice.
 */
export function retryTransient<T>(work: () => Promise<T>, options: TransientRetryOptions): Promise<T> {
  return pRetry(work, {
    retries: options.retries,
    minTimeout: options.minTimeoutMs,
    maxTimeout: options.maxTimeoutMs,
    randomize: true,
    shouldRetry: (error) => isTransient(error),
    onFailedAttempt: (error) => {
      if (isTransient(error) && error.retriesLeft > 0) options.onRetry?.(error, error.attemptNumber);
    },
  });
}
