import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy in front of the real AWS endpoint (moto): every request of the
 * local stack — its functions, its SQS poller, its provisioning — goes through it and on to moto
 * unchanged, except the ones the current faults pick. Nothing here imitates S3 or SQS: a fault is
 * an answer moto would never give (a 503, a reset connection, a late answer), a request sent
 * twice, or a request never passed on.
 *
 * SQS requests are recognised by their JSON protocol target (`X-Amz-Target: AmazonSQS.<Op>`),
 * S3 range reads by a GET with a `Range` header.
 */

/** The faults in force; change them between (or during) runs. Rates are fractions, 0–1. */
export interface Faults {
  /**
   * Entries of SendMessageBatch to the partitions queue that are sent a second time (after the
   * first send answered): the queue holds two messages of the same body — what SQS's at-least-once
   * delivery does, and what a producer's retry after a lost reply does.
   */
  duplicateSendRate?: number;
  /**
   * Partition messages whose first delivery's DeleteMessageBatch never reaches SQS (the connection
   * is reset, every SDK retry too): as if the processor died after its COMMIT and before the delete.
   */
  lostDeleteRate?: number;
  /** Ranged GetObject answered with a 503 SlowDown, or with a reset connection (half each). */
  rangeReadFaultRate?: number;
  /** Every ranged GetObject answered this much later (slow reads: processing outlasts the visibility timeout). */
  rangeReadDelayMs?: number;
  /**
   * Called for each SendMessageBatch to the partitions queue, with its 1-based number since the
   * faults were set; `reset` drops the request unanswered (the sender died), `forward` passes it on.
   */
  onPartitionSend?: (call: number) => 'forward' | 'reset';
  /** Draws the rates' choices. @default Math.random */
  random?: () => number;
}

/** What the proxy injected since the faults were last set. */
export interface Injected {
  duplicatedMessages: number;
  lostDeletes: number;
  rangeReads: number;
  rangeRead503s: number;
  rangeReadResets: number;
  droppedSends: number;
}

export interface FaultProxy {
  /** The proxy's endpoint, for AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  /** Replaces the faults in force and zeroes the counters. */
  setFaults(faults: Faults): void;
  readonly injected: Readonly<Injected>;
  close(): Promise<void>;
}

const emptyInjected = (): Injected => ({ duplicatedMessages: 0, lostDeletes: 0, rangeReads: 0, rangeRead503s: 0, rangeReadResets: 0, droppedSends: 0 });

/**
 * Starts the proxy on a free loopback port, forwarding to `upstream`. `partitionsQueueName`
 * names the queue whose sends and deletes the SQS faults apply to.
 *
 * @example
 * const proxy = await startFaultProxy({ upstream: 'http://127.0.0.1:4566', partitionsQueueName: 'batchflow-x-partition-queue' });
 * proxy.setFaults({ duplicateSendRate: 0.2 });
 */
export async function startFaultProxy(options: {
  readonly upstream: string;
  readonly partitionsQueueName: () => string | undefined;
}): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const random = () => (faults.random ?? Math.random)();
  let faults: Faults = {};
  let injected = emptyInjected();
  let partitionSends = 0;
  /** Message ids whose delete was already lost once (a second delivery's delete goes through). */
  const deleteLostFor = new Set<string>();
  /** Receipt handles whose delete is being refused (the SDK's own retries carry the same ones). */
  const refusedHandles = new Set<string>();

  const forward = (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method, path, headers: { ...headers, 'content-length': String(body.length) } },
        resolve,
      );
      out.on('error', reject);
      out.end(body);
    });

  const isPartitionsQueue = (queueUrl: unknown): boolean => {
    const name = options.partitionsQueueName();
    return name !== undefined && typeof queueUrl === 'string' && queueUrl.endsWith(`/${name}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const reset = (): void => void req.socket.destroy();
    const target = String(req.headers['x-amz-target'] ?? '');
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';

    if (target === 'AmazonSQS.SendMessageBatch' || target === 'AmazonSQS.DeleteMessageBatch') {
      const json = JSON.parse(body.toString('utf8')) as { QueueUrl?: string; Entries?: { Id: string; ReceiptHandle?: string }[] };
      if (isPartitionsQueue(json.QueueUrl)) {
        if (target === 'AmazonSQS.SendMessageBatch') {
          const verdict = faults.onPartitionSend?.(++partitionSends) ?? 'forward';
          if (verdict === 'reset') {
            injected.droppedSends++;
            return reset();
          }
          const answer = await forward(method, path, req.headers, body);
          const copies = (json.Entries ?? []).filter(() => random() < (faults.duplicateSendRate ?? 0));
          if (copies.length > 0) {
            const again = await forward(method, path, req.headers, Buffer.from(JSON.stringify({ ...json, Entries: copies })));
            again.resume();
            injected.duplicatedMessages += copies.length;
          }
          return relay(answer, res);
        }
        // DeleteMessageBatch: the poller names each entry by its message id.
        const entries = json.Entries ?? [];
        for (const e of entries) {
          if (e.ReceiptHandle && refusedHandles.has(e.ReceiptHandle)) return reset();
          if (!deleteLostFor.has(e.Id) && random() < (faults.lostDeleteRate ?? 0)) {
            deleteLostFor.add(e.Id);
            if (e.ReceiptHandle) refusedHandles.add(e.ReceiptHandle);
            injected.lostDeletes++;
            return reset();
          }
        }
      }
    }

    if (method === 'GET' && req.headers.range !== undefined) {
      injected.rangeReads++;
      if (faults.rangeReadDelayMs) await new Promise((r) => setTimeout(r, faults.rangeReadDelayMs));
      if (random() < (faults.rangeReadFaultRate ?? 0)) {
        if (random() < 0.5) {
          injected.rangeRead503s++;
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate. (fault injection)</Message></Error>');
          return;
        }
        injected.rangeReadResets++;
        return reset();
      }
    }

    relay(await forward(method, path, req.headers, body), res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream failed: ${err.message}`);
    });
  });
  // The SDK keeps connections alive; so does the proxy, as long as the SDK wants.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setFaults(next) {
      faults = next;
      injected = emptyInjected();
      partitionSends = 0;
    },
    get injected() {
      return injected;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Passes an upstream answer on as it is (bodies streamed: S3 objects). */
function relay(answer: IncomingMessage, res: ServerResponse): void {
  res.writeHead(answer.statusCode ?? 502, answer.headers);
  answer.pipe(res);
}
