import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { registerDataset, salesCsv, uploadAndWait, usePipeline } from './pipeline.ts';

/**
 * The read-only HTTP API as `npm run local` serves it: the real `api` function behind the local
 * stand-in for API Gateway, reading what the pipeline ingested. Expectations come from the file
 * uploaded (its lines) and from the job the store recorded, not from the API's own code.
 */

const p = usePipeline('http-api', { httpApiPort: 0 });

async function get(path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(new URL(path, p.stack.httpApi!.url));
  return { status: response.status, body: await response.json() };
}

/** A GET over plain node:http with the given Host header (fetch does not let a caller set Host). */
function getWithHost(path: string, host: string | undefined): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, p.stack.httpApi!.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', setHost: false, headers: host === undefined ? {} : { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode!, body: text === '' ? undefined : JSON.parse(text) });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the local HTTP API', () => {
  it('lists an ingested job with its counts, and its rejected line by file and line number', async () => {
    // Prepare
    await registerDataset(p, salesCsv('sales'));
    const lines = [
      'ts,region,product,amount,quantity',
      '2024-03-04T10:00:00Z,north,widget,1.50,2',
      '2024-03-04T11:00:00Z,south,widget,not-a-number,1',
      '2024-03-04T12:00:00Z,north,gadget,3.25,4',
    ];
    const key = 'uploads/sales/api.csv';
    const job = await uploadAndWait(p, key, Buffer.from(lines.join('\n')));

    // Act
    const list = await get('jobs');
    const one = await get(`jobs/${job.jobId}`);
    const rejects = await get(`jobs/${job.jobId}/rejects`);

    // Assess
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [expect.objectContaining({ jobId: job.jobId, status: 'completed_with_rejects', records: 3, rejected: 1 })], nextCursor: null });
    expect(one).toEqual({ status: 200, body: expect.objectContaining({ jobId: job.jobId, key, dataset: 'sales' }) });
    expect(rejects.status).toBe(200);
    expect(rejects.body).toEqual({ items: [expect.objectContaining({ key, line: 3, raw: lines[2] })], nextCursor: null });
    expect((rejects.body as { items: { reason: string }[] }).items[0]!.reason).toContain('amount');
  });

  it('answers bad input with 400 naming the parameter, and an unknown route with 404', async () => {
    // Act
    const bad = await get('jobs/abc');
    const unknown = await get('nowhere');

    // Assess
    expect(bad.status).toBe(400);
    expect((bad.body as { error: string }).error).toContain('jobId');
    expect(unknown.status).toBe(404);
  });

  it('answers a loopback Host, with or without a port, and refuses any other Host with 403 (DNS rebinding)', async () => {
    // Prepare
    const port = new URL(p.stack.httpApi!.url).port;

    // Act
    const loopback = await Promise.all(['localhost', `localhost:${port}`, `127.0.0.1:${port}`, '127.0.0.1', `[::1]:${port}`].map((host) => getWithHost('/jobs', host)));
    const others = await Promise.all([`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`].map((host) => getWithHost('/jobs', host)));
    // No Host at all: Node's server itself refuses an HTTP/1.1 request without one (400), before the handler.
    const none = await getWithHost('/jobs', undefined);

    // Assess
    expect(loopback.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    for (const r of loopback) expect(r.body).toMatchObject({ items: expect.any(Array), nextCursor: null });
    expect(others.map((r) => r.status)).toEqual([403, 403, 403, 403]);
    for (const r of others) expect(r.body).toEqual({ message: 'Forbidden: the Host header must be localhost, 127.0.0.1 or [::1]' });
    expect(none.status).toBe(400);
  });

  it('refuses a POST from a page of another origin (a cross-site form), and takes one from a loopback page or a CLI', async () => {
    // Prepare: an unknown job, so an accepted request answers 404 and changes nothing.
    const stop = (origin?: string) =>
      fetch(new URL('/api/batch-jobs/987654321/stop', p.stack.httpApi!.url), { method: 'POST', headers: origin ? { origin } : {} });

    // Act
    const crossSite = await Promise.all(['https://evil.example', 'http://localhost.evil.example', 'null'].map((o) => stop(o)));
    const local = await Promise.all([stop('http://localhost:3000'), stop('http://127.0.0.1'), stop()]);

    // Assess
    expect(crossSite.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(await crossSite[0]!.json()).toEqual({ message: 'Forbidden: a cross-origin request may not change anything' });
    expect(local.map((r) => r.status)).toEqual([404, 404, 404]);
  });
});
