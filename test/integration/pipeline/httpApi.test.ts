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
    expect(list.body).toEqual([expect.objectContaining({ jobId: job.jobId, status: 'completed_with_rejects', records: 3, rejected: 1 })]);
    expect(one).toEqual({ status: 200, body: expect.objectContaining({ jobId: job.jobId, key, dataset: 'sales' }) });
    expect(rejects.status).toBe(200);
    expect(rejects.body).toEqual([expect.objectContaining({ key, line: 3, raw: lines[2] })]);
    expect((rejects.body as { reason: string }[])[0]!.reason).toContain('amount');
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
});
