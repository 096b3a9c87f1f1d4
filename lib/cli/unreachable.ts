import { isConnectionError } from '../adapters/database.ts';
import { API_URL_OUTPUT, CliError, redactedUrl, type DirectTarget } from './target.ts';

// Errors of a host that cannot be found or a server that turns the login away: not transient, so
// not isConnectionError's, but the same for a user: the CLI never got to run the command.
const LOOKUP_ERRNOS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const LOGIN_STATES: Record<string, string> = {
  '28P01': 'the password was refused',
  '28000': 'the role may not log in',
  '3D000': 'the database does not exist',
};

/**
 * The one line to print when a command could not reach its target, or undefined when `err` is
 * something else. Says what was tried (host and port, never a password) and how to fix it, instead
 * of a driver's stack trace: a Postgres that refuses or times out (a local stack that was stopped,
 * PGlite busy with another client, a deployed database in private subnets), a login refused, or an
 * AWS endpoint that does not answer.
 */
export function unreachable(err: unknown, target: DirectTarget): CliError | undefined {
  const e = err as { code?: unknown; message?: unknown; $metadata?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const isAws = e !== null && typeof e === 'object' && '$metadata' in e;
  const fix =
    target.kind === 'local'
      ? 'is `npm run local` still running? (restart it, or choose another target with --target)'
      : 'check DATABASE_URL; a deployed stack keeps its database in private subnets, reachable only from inside its VPC';
  if (isAws) return awsUnreachable(err, target, target.kind === 'local' ? fix : undefined);
  const login = code !== undefined ? LOGIN_STATES[code] : undefined;
  if (!login && !isConnectionError(err) && !(code !== undefined && LOOKUP_ERRNOS.has(code))) return undefined;
  const why = login ?? (code === 'CONNECT_TIMEOUT' ? 'no connection within the timeout (the server is busy or unreachable)' : code);
  return new CliError(`cannot reach Postgres at ${postgresAddress(target.databaseUrl)} (target ${target.kind === 'local' ? 'local stack' : 'database'}): ${why}; ${fix}`);
}

/**
 * The one line for an AWS client that got no answer from its endpoint (`fix` says what to do; by
 * default, check AWS_ENDPOINT_URL), or undefined for any other error: also the API target's uploads.
 */
export function awsUnreachable(err: unknown, target: { readonly endpoint?: string | undefined; readonly region: string }, fix?: string): CliError | undefined {
  const e = err as { code?: unknown; $metadata?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const isAws = e !== null && typeof e === 'object' && '$metadata' in e;
  if (!isAws || !(code === 'ECONNREFUSED' || (code !== undefined && LOOKUP_ERRNOS.has(code)) || code === 'ETIMEDOUT')) return undefined;
  return new CliError(`cannot reach the AWS endpoint ${target.endpoint ?? `AWS (${target.region})`}: ${code}; ${fix ?? 'check AWS_ENDPOINT_URL and your network'}`);
}

/** host:port/database of a connection URL, for messages. */
function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return redactedUrl(url);
  }
}

/**
 * The one line for a request to the stack's HTTP API that got no answer (fetch's `TypeError: fetch
 * failed` with the socket's error as its cause, or the CLI's own timeout), or undefined for
 * anything else. Names the URL the request went to and what to check.
 */
export function apiUnreachable(err: unknown, apiUrl: URL): CliError | undefined {
  const e = err as { name?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  const cause = e?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const where = `${apiUrl.origin}${apiUrl.pathname}`;
  const fix = `check BATCHFLOW_API_URL (the stack output ${API_URL_OUTPUT}) and your network`;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return new CliError(`cannot reach the batchflow API at ${where}: no answer within the timeout; ${fix}`);
  }
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || (code !== undefined && LOOKUP_ERRNOS.has(code))) {
    const local = code === 'ECONNREFUSED' && ['127.0.0.1', 'localhost', '[::1]'].includes(apiUrl.hostname) ? ' (is `npm run local` running?)' : '';
    return new CliError(`cannot reach the batchflow API at ${where}: ${code}${local}; ${fix}`);
  }
  if (err instanceof TypeError && err.message === 'fetch failed') {
    // fetch's own refusals (a "bad port" such as 1 or 6000) have a message and no code.
    return new CliError(`cannot reach the batchflow API at ${where}: ${typeof cause?.message === 'string' && cause.message ? cause.message : 'the request failed'}; ${fix}`);
  }
  return undefined;
}
