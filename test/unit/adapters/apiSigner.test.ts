import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLoopback, regionOfHost, resolveApiAuth, signedHeaders } from '../../../lib/adapters/apiSigner.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const found = async () => credentials;
const missing = async () => {
  throw new Error('Could not load credentials from any providers');
};
const deployed = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/api/datasets?limit=5');

/** SigV4 written out from the AWS documentation's steps, independent of the SDK's signer. */
function sigV4ByHand(method: string, url: URL, headers: Record<string, string>, body: string, region: string): string {
  const hex = (data: string) => createHash('sha256').update(data).digest('hex');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const amzDate = headers['x-amz-date']!;
  const names = Object.keys(headers).filter((n) => n !== 'authorization').sort();
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
  const canonical = [method, url.pathname, query, ...names.map((n) => `${n}:${headers[n]!.trim()}`), '', names.join(';'), hex(body)].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/execute-api/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, amzDate.slice(0, 8)), region), 'execute-api'), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('resolveApiAuth', () => {
  it('signs for the region the execute-api host names, over the configured one', async () => {
    // Act
    const auth = await resolveApiAuth(deployed, 'us-east-1', found);

    // Assess
    expect(auth).toEqual({ kind: 'signed', credentials, region: 'eu-west-1' });
  });

  it('signs for the configured region when the host names none (a custom domain)', async () => {
    expect(await resolveApiAuth(new URL('https://batchflow.example.com/'), 'ap-south-1', found)).toMatchObject({ region: 'ap-south-1' });
  });

  it('goes unsigned only to a loopback host without credentials; refuses any other host', async () => {
    expect(await resolveApiAuth(new URL('http://127.0.0.1:4567/'), 'us-east-1', missing)).toEqual({ kind: 'unsigned' });
    expect(await resolveApiAuth(new URL('http://localhost:4567/'), 'us-east-1', missing)).toEqual({ kind: 'unsigned' });
    await expect(resolveApiAuth(deployed, 'us-east-1', missing)).rejects.toThrow(/^no AWS credentials to sign requests to https:\/\/abc123\.execute-api/);
  });

  it('still signs to a loopback host when credentials exist', async () => {
    expect(await resolveApiAuth(new URL('http://127.0.0.1:4567/'), 'us-east-1', found)).toMatchObject({ kind: 'signed', region: 'us-east-1' });
  });
});

describe('signedHeaders', () => {
  it('signs method, path, query, host and body for execute-api as the SigV4 steps compute it', async () => {
    // Prepare
    const body = JSON.stringify({ name: 'sales' });
    const url = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/api/datasets/sales?force=true&a=1');

    // Act
    const headers = await signedHeaders({ method: 'PUT', url, body }, { kind: 'signed', credentials, region: 'eu-west-1' });

    // Assess
    const date = headers['x-amz-date']!;
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/${date.slice(0, 8)}/eu-west-1/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=${sigV4ByHand('PUT', url, headers, body, 'eu-west-1')}`,
    );
    expect(headers.host).toBe('abc123.execute-api.eu-west-1.amazonaws.com');
  });

  it('sends only Host (and the content type) unsigned', async () => {
    expect(await signedHeaders({ method: 'GET', url: new URL('http://127.0.0.1:4567/api/datasets') }, { kind: 'unsigned' })).toEqual({ host: '127.0.0.1:4567' });
  });

  it("matches the SDK signer's own output for the same request and instant", async () => {
    // Prepare
    const url = new URL('http://127.0.0.1:4567/api/batch-jobs?key=uploads%2Fsales%2Fa%20b.csv&limit=1');
    const headers = await signedHeaders({ method: 'GET', url }, { kind: 'signed', credentials, region: 'us-east-1' });
    const at = headers['x-amz-date']!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');

    // Act
    const again = await new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials, sha256: (await import('@smithy/core/serde')).Hash.bind(null, 'sha256') }).sign(
      { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 4567, path: '/api/batch-jobs', query: { key: 'uploads/sales/a b.csv', limit: '1' }, headers: { host: '127.0.0.1:4567' } },
      { signingDate: new Date(at) },
    );

    // Assess
    expect(headers.authorization).toBe(again.headers.authorization);
  });
});

describe('hosts', () => {
  it('tells loopback hosts and execute-api regions', () => {
    expect(['http://127.0.0.1/', 'http://localhost:1/', 'http://[::1]:2/'].map((u) => isLoopback(new URL(u)))).toEqual([true, true, true]);
    expect(isLoopback(new URL('http://127.0.0.1.example.com/'))).toBe(false);
    expect(regionOfHost(deployed)).toBe('eu-west-1');
    expect(regionOfHost(new URL('https://api.example.com/'))).toBeUndefined();
  });
});
