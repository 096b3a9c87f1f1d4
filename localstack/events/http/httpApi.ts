import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { topologyFunctionPool } from '../../runtime/workerPool.ts';
import { refusedSignature, type LocalApiCredentials } from './sigv4.ts';

/** The local stand-in for the stack's HTTP API. */
export interface LocalHttpApi {
  /** `http://127.0.0.1:<port>/`, like the stack's ApiUrl output. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface LocalHttpApiOptions {
  readonly stage: string;
  readonly region: string;
  readonly entry: URL;
  /** The stack's function environment. */
  readonly environment: Readonly<Record<string, string>>;
  /** 0 picks a free port. */
  readonly port: number;
  readonly log: (line: string) => void;
  /**
   * `sigv4`: refuse (403) a request not signed for `execute-api` in `region` with these
   * credentials, as the stack's IAM authorisation does. @default unsigned requests are served
   */
  readonly auth?: { readonly kind: 'sigv4'; readonly credentials: LocalApiCredentials };
}

/**
 * Plays API Gateway's HTTP API in front of the real `api` function (in a worker, as a Lambda
 * container): each request becomes a payload 2.0 event, the handler's result the response. It
 * listens on loopback only, answers only requests whose Host is a loopback name (403 otherwise:
 * DNS rebinding), refuses changes (POST) from a page of another origin (cross-site requests), and
 * checks no signature unless `auth` asks it to (on AWS the same routes need SigV4: IAM).
 */
export async function startLocalHttpApi(options: LocalHttpApiOptions): Promise<LocalHttpApi> {
  const pool = topologyFunctionPool('api', options);
  const server = createServer((req, res) => {
    void handle(req, res);
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Listening on loopback is not enough: a page on any site can point its own name at 127.0.0.1
    // (DNS rebinding) and read the answers as same-origin. Its requests carry that name as Host.
    if (!isLoopbackHost(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Forbidden: the Host header must be localhost, 127.0.0.1 or [::1]' }));
      return;
    }
    // A page on another site may still send a form POST to 127.0.0.1 (no preflight): the browser
    // says where it comes from in Origin, which a CLI or curl does not send.
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers.origin !== undefined && !isLoopbackOrigin(req.headers.origin)) {
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Forbidden: a cross-origin request may not change anything' }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (options.auth) {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const refused = await refusedSignature({ method: req.method ?? 'GET', url, headers: req.headers, body }, { credentials: options.auth.credentials, region: options.region });
      if (refused) {
        // API Gateway's answer to a request its IAM authorisation refuses.
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: refused }));
        return;
      }
    }
    const outcome = await pool.invoke(toEvent(req, body));
    if (!outcome.ok) {
      // What API Gateway answers when the integration fails.
      options.log(`api: ${outcome.error}`);
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Internal Server Error' }));
      return;
    }
    const result = outcome.value as APIGatewayProxyStructuredResultV2;
    res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string> | undefined).end(result.body ?? '');
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    async stop() {
      await new Promise((resolve) => server.close(resolve));
      await pool.close();
    },
  };
}

/**
 * True when a Host header names the loopback interface: localhost, 127.0.0.1 or [::1], with or
 * without a port. Anything else (another name, no Host at all) is refused by the local API.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  return host !== undefined && /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i.test(host);
}

/** True when an Origin header is a loopback page's (http://localhost:8080, http://127.0.0.1, ...). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    return isLoopbackHost(new URL(origin).host);
  } catch {
    return false;
  }
}

/** An HTTP API payload 2.0 event for a request, with its body as text (API Gateway's, for JSON). */
export function toEvent(req: Pick<IncomingMessage, 'url' | 'method' | 'headers'>, body = ''): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query: Record<string, string> = {};
  // API Gateway joins repeated parameters with commas.
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: `${method} /{proxy+}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    pathParameters: { proxy: url.pathname.slice(1) },
    ...(body !== '' ? { body } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: `${method} /{proxy+}`,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
  };
}
