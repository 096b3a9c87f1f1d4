import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { EXECUTE_API, sha256, toHttpRequest } from '../../../lib/adapters/apiSigner.ts';

/** The one identity the local API accepts when it checks signatures: the local stack's own keys. */
export interface LocalApiCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
// API Gateway refuses a signature older or newer than this.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
const MAX_SKEW_MS = 15 * 60_000;

/**
 * Checks a request's SigV4 signature as API Gateway's IAM authorisation does, by recomputing it
 * with the SDK's own signer over what arrived: method, path, query, the headers it names as signed
 * (their received values), the body's actual hash, and its X-Amz-Date. Answers why it is refused,
 * or undefined when the signature holds. Only signature checks: no IAM policy is evaluated.
 */
export async function refusedSignature(
  request: { readonly method: string; readonly url: URL; readonly headers: IncomingHttpHeaders; readonly body: string },
  expected: { readonly credentials: LocalApiCredentials; readonly region: string },
  now = new Date(),
): Promise<string | undefined> {
  const header = request.headers.authorization;
  if (!header) return 'Missing Authentication Token';
  const m = AUTHORIZATION.exec(header);
  if (!m) return 'Authorization header requires a SigV4 Credential, SignedHeaders and Signature';
  const [, accessKeyId, , region, service, signedNames, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (accessKeyId !== expected.credentials.accessKeyId) return 'The security token included in the request is invalid.';
  if (service !== EXECUTE_API || region !== expected.region) return `Credential should be scoped to a valid region (${expected.region}) and service (${EXECUTE_API})`;
  const amzDate = typeof request.headers['x-amz-date'] === 'string' ? request.headers['x-amz-date'] : undefined;
  const signingDate = amzDate && /^\d{8}T\d{6}Z$/.test(amzDate) ? new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z')) : undefined;
  if (!signingDate) return 'X-Amz-Date header is missing or malformed';
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) return 'Signature expired';
  const names = signedNames.split(';');
  if (!names.includes('host')) return "'Host' must be a signed header";
  // The received values of the headers signed; the payload hash is recomputed from the body, not taken from its header.
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name];
    if (name === 'x-amz-content-sha256' || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const signer = new SignatureV4({ service: EXECUTE_API, region, credentials: expected.credentials, sha256, applyChecksum: names.includes('x-amz-content-sha256') });
  const recomputed = await signer.sign(toHttpRequest({ method: request.method, url: request.url, ...(request.body !== '' ? { body: request.body } : {}) }, headers), {
    signingDate,
  });
  const want = /Signature=([0-9a-f]{64})$/.exec(recomputed.headers.authorization ?? '')?.[1] ?? '';
  const same = want.length === signature.length && timingSafeEqual(Buffer.from(want), Buffer.from(signature));
  return same ? undefined : 'The request signature we calculated does not match the signature you provided.';
}
