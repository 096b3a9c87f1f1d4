import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { NoCredentialsError, resolveApiAuth, signedHeaders, type ApiAuth } from '../adapters/apiSigner.ts';
import { CliError, type ApiTarget } from './target.ts';
import { apiUnreachable } from './unreachable.ts';

/** A stack's HTTP API as the CLI calls it: JSON in, JSON out, every request signed (see apiSigner.ts). */
export interface StackApi {
  send<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, options?: { readonly query?: Query; readonly body?: unknown }): Promise<T>;
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** An answer of 400 and up, printed as `<method> <path>: <status> <error>`; `status` lets a caller expect a 404. */
export class ApiAnswerError extends CliError {
  override name = 'ApiAnswerError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface StackApiOptions {
  /** @default the SDK's default chain (environment, shared profile, SSO, container, instance) */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** API Gateway gives up on an integration after 30 s; a little more, then the CLI does too. @default 35_000 */
  readonly timeoutMs?: number;
}

/**
 * The client of `target`'s API. Credentials are resolved once, on the first request: a command
 * that fails on its arguments never touches the chain.
 */
export function stackApi(target: ApiTarget, options: StackApiOptions = {}): StackApi {
  let auth: Promise<ApiAuth> | undefined;
  const authOnce = () =>
    (auth ??= resolveApiAuth(target.apiUrl, target.region, options.credentials).catch((err: unknown) => {
      if (err instanceof NoCredentialsError) throw new CliError(`${err.message}; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`);
      throw err;
    }));
  return {
    async send<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, { query = {}, body }: { query?: Query; body?: unknown } = {}): Promise<T> {
      // The stage path of the URL (a custom domain's base path) stays in front of the route's.
      const url = new URL(path.replace(/^\//, ''), target.apiUrl.href.endsWith('/') ? target.apiUrl : `${target.apiUrl.href}/`);
      // Encoded as SigV4 canonicalises it (a space is %20, never the form encoding's "+"), so what
      // is sent is what was signed: AWS reads a "+" as itself.
      url.search = Object.entries(query)
        .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
        .map(([key, value]) => `${rfc3986(key)}=${rfc3986(String(value))}`)
        .join('&');
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers = await signedHeaders({ method, url, body: text }, await authOnce());
      let response: Response;
      try {
        // fetch sets Host itself (from the URL, as signed); it refuses one given.
        const { host: _host, ...sent } = headers;
        response = await fetch(url, { method, headers: sent, body: text, signal: AbortSignal.timeout(options.timeoutMs ?? 35_000) });
      } catch (err) {
        throw apiUnreachable(err, target.apiUrl) ?? err;
      }
      const answer = await response.text();
      let parsed: unknown;
      try {
        parsed = answer === '' ? undefined : JSON.parse(answer);
      } catch {
        parsed = undefined;
      }
      if (response.ok) return parsed as T;
      throw new ApiAnswerError(response.status, `${method} ${url.pathname}: ${response.status} ${errorOf(parsed, answer, response.statusText)}${forbiddenHint(response.status, method, url.pathname)}`);
    },
  };
}

/** encodeURIComponent, plus the characters it leaves that SigV4 encodes. */
const rfc3986 = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** `{ error }` from batchflow's routes, `{ message }` from API Gateway's own answers (403, 429, 5xx). */
function errorOf(body: unknown, text: string, statusText: string): string {
  const b = body as { error?: unknown; message?: unknown } | undefined;
  if (typeof b?.error === 'string') return b.error;
  if (typeof b?.message === 'string') return b.message;
  return text.trim().slice(0, 200) || statusText;
}

/** A 403 comes from API Gateway's IAM check before batchflow sees the request. */
function forbiddenHint(status: number, method: string, path: string): string {
  if (status !== 403) return '';
  return ` (the credentials are not valid for this API, or lack execute-api:Invoke on ${method} ${path}: see README "Using a deployed stack")`;
}
