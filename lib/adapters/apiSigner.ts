import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, HttpRequest } from '@smithy/types';

/**
 * SigV4 for the stack's HTTP API (API Gateway, IAM authorisation: service `execute-api`), with the
 * SDK's own signer and hash, so a request is signed exactly as an SDK client would sign it.
 */

/** The service name IAM-authorised API Gateway routes are signed for. */
export const EXECUTE_API = 'execute-api';

/** Node's sha256 as the SDK's clients build it (`Hash.bind(null, 'sha256')` in their runtime config). */
export const sha256 = Hash.bind(null, 'sha256');

/** A request to sign or send: a URL and what goes with it. */
export interface ApiRequestInit {
  readonly method: string;
  readonly url: URL;
  /** JSON text, sent as `application/json`. */
  readonly body?: string;
}

/** How the CLI authenticates: `signed` with the credentials of the default chain, or `unsigned` (loopback only). */
export type ApiAuth = { readonly kind: 'signed'; readonly credentials: AwsCredentialIdentity; readonly region: string } | { readonly kind: 'unsigned' };

/** A credential provider that could find nothing throws; a loopback target may then go unsigned. */
export class NoCredentialsError extends Error {
  override name = 'NoCredentialsError';
}

/** True for 127.0.0.1, localhost and ::1 (the local stack's API): the only hosts a request may reach unsigned. */
export function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname.toLowerCase());
}

/** `<api-id>.execute-api.<region>.amazonaws.com` names its region; a custom domain does not. */
export function regionOfHost(url: URL): string | undefined {
  return /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/i.exec(url.hostname)?.[1];
}

/**
 * Resolves how to authenticate against `apiUrl`: the default credential chain (environment,
 * profile, SSO, container, instance), signing for the region in the host (an execute-api URL's)
 * or `region`. Without credentials only a loopback URL is reached, unsigned: anything else would
 * send an unauthenticated request across the network only to be refused.
 */
export async function resolveApiAuth(
  apiUrl: URL,
  region: string,
  credentials: AwsCredentialIdentityProvider = defaultProvider(),
): Promise<ApiAuth> {
  let found: AwsCredentialIdentity | undefined;
  try {
    found = await credentials();
  } catch (err) {
    if (!isLoopback(apiUrl)) throw new NoCredentialsError(`no AWS credentials to sign requests to ${apiUrl.origin} with: ${(err as Error).message}`);
  }
  return found ? { kind: 'signed', credentials: found, region: regionOfHost(apiUrl) ?? region } : { kind: 'unsigned' };
}

/** The headers to send `request` with: Host, content type, and with `signed` auth the SigV4 ones. */
export async function signedHeaders(request: ApiRequestInit, auth: ApiAuth): Promise<Record<string, string>> {
  const headers: Record<string, string> = { host: request.url.host, ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}) };
  if (auth.kind === 'unsigned') return headers;
  const signer = new SignatureV4({ service: EXECUTE_API, region: auth.region, credentials: auth.credentials, sha256 });
  const signed = await signer.sign(toHttpRequest(request, headers));
  return signed.headers;
}

/** A request in the shape SignatureV4 signs (the path as sent, the query as its decoded pairs). */
export function toHttpRequest(request: ApiRequestInit, headers: Record<string, string>): HttpRequest {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of request.url.searchParams) {
    const had = query[key];
    query[key] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  return {
    method: request.method,
    protocol: request.url.protocol,
    hostname: request.url.hostname,
    ...(request.url.port ? { port: Number(request.url.port) } : {}),
    path: request.url.pathname,
    query,
    headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  };
}
