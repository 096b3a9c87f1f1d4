import { describe, expect, it } from 'vitest';
import { parseDatasetDefinition, type DatasetDefinition } from '../../../lib/datasets/definition.ts';
import { cachedJobDefinitions, DEFINITION_CACHE_JOBS, type LoadJobDefinition } from '../../../lib/process/definitionCache.ts';
import { salesCsv } from '../../support/sales.ts';

/** A loader over a fixed table of jobs that counts its calls per job: the database reads the cache saves. */
function countingLoader(jobs: Map<number, { definition: DatasetDefinition; snapshot: boolean }>) {
  const reads = new Map<number, number>();
  const load: LoadJobDefinition = async (jobId) => {
    reads.set(jobId, (reads.get(jobId) ?? 0) + 1);
    // As a query answers: later, not synchronously.
    await new Promise((resolve) => setTimeout(resolve, 1));
    return jobs.get(jobId);
  };
  return { load, reads };
}

const v1 = parseDatasetDefinition({ ...salesCsv('cache'), metrics: ['amount'] });
const v2 = parseDatasetDefinition(salesCsv('cache'));

describe('cachedJobDefinitions', () => {
  it('reads a job’s snapshot once for any number of its partitions, concurrent ones included', async () => {
    // Prepare
    const { load, reads } = countingLoader(new Map([[7, { definition: v1, snapshot: true }]]));
    const definitions = cachedJobDefinitions(load);

    // Act: 10 partitions at once, then 40 one after another.
    const together = await Promise.all(Array.from({ length: 10 }, () => definitions.get(7)));
    const after: (DatasetDefinition | undefined)[] = [];
    for (let i = 0; i < 40; i++) after.push(await definitions.get(7));

    // Assess
    expect(reads.get(7)).toBe(1);
    expect([...together, ...after].every((d) => d === v1)).toBe(true);
  });

  it('keeps the most recently used jobs up to its capacity, evicting the least recently used', async () => {
    // Prepare: jobs 1..capacity+1, all with snapshots.
    const capacity = DEFINITION_CACHE_JOBS;
    const jobs = new Map(Array.from({ length: capacity + 1 }, (_, i) => [i + 1, { definition: v1, snapshot: true }] as const));
    const { load, reads } = countingLoader(jobs);
    const definitions = cachedJobDefinitions(load, capacity);

    // Act: fill it, touch job 1 (now most recent), add one more job (evicts job 2), read 1 and 2 again.
    for (let job = 1; job <= capacity; job++) await definitions.get(job);
    await definitions.get(1);
    await definitions.get(capacity + 1);
    await definitions.get(1);
    await definitions.get(2);

    // Assess: job 1 stayed (one read), job 2 was evicted and read again, every other job once.
    expect(reads.get(1)).toBe(1);
    expect(reads.get(2)).toBe(2);
    expect([...reads].filter(([job]) => job > 2).every(([, n]) => n === 1)).toBe(true);
    expect(reads.size).toBe(capacity + 1);
  });

  it('reads a job without a snapshot every time (its dataset’s current definition can change), and keeps no miss', async () => {
    // Prepare
    const jobs = new Map([[3, { definition: v1, snapshot: false }]]);
    const { load, reads } = countingLoader(jobs);
    const definitions = cachedJobDefinitions(load);

    // Act
    const first = await definitions.get(3);
    jobs.set(3, { definition: v2, snapshot: false });
    const second = await definitions.get(3);
    const missing = await definitions.get(4);
    jobs.set(4, { definition: v2, snapshot: true });
    const recorded = await definitions.get(4);

    // Assess
    expect([first, second]).toEqual([v1, v2]);
    expect(reads.get(3)).toBe(2);
    expect([missing, recorded]).toEqual([undefined, v2]);
    expect(reads.get(4)).toBe(2);
  });

  it('keeps no failed read: the next partition reads again', async () => {
    // Prepare
    let calls = 0;
    const definitions = cachedJobDefinitions(async () => {
      calls++;
      if (calls === 1) throw new Error('connection reset');
      return { definition: v1, snapshot: true };
    });

    // Act
    const failed = await definitions.get(9).then(
      () => undefined,
      (err: Error) => err.message,
    );
    const retried = await definitions.get(9);
    await definitions.get(9);

    // Assess
    expect(failed).toBe('connection reset');
    expect(retried).toBe(v1);
    expect(calls).toBe(2);
  });
});
