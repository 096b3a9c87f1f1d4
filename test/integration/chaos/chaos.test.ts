import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { formatRun, runChaos, startChaosStack, suiteRuns, summaryLine, type ChaosStack, type RunResult } from '../../chaos/scenarios.ts';

/**
 * The fault-injection suite of `npm run chaos` (test/chaos/), smaller: each fault in a run of its
 * own, then all together, against the local stack with moto behind a fault proxy and Postgres
 * behind a relay. Every job must end, and every rollup must equal the independent computation.
 */
let chaos: ChaosStack | undefined;
beforeAll(async () => {
  chaos = await startChaosStack({ endpoint: inject('awsEndpoint'), region: inject('awsRegion'), databaseUrl: inject('databaseUrl') });
});
afterAll(async () => {
  await chaos?.stop();
});

describe('the pipeline under injected faults', () => {
  const results: RunResult[] = [];
  for (const [i, faults] of suiteRuns().entries()) {
    it(`${faults.length === 1 ? faults[0] : 'all faults together'}: every job ends, every rollup is exact`, async () => {
      // Prepare
      const size = { records: 1500, timeoutMs: 60_000 };

      // Act
      const result = await runChaos(chaos!, faults, size, 100 + i);
      results.push(result);
      console.log(formatRun(result));

      // Assess
      expect(result.partitions).toBeGreaterThanOrEqual(10);
      expect(result.problems).toEqual([]);
      expect(result.jobsUnfinished).toBe(0);
      expect(result.exact).toBe(true);
    });
  }
  it('reports every run exact and no job unfinished', () => {
    const { line, passed } = summaryLine(results);
    console.log(line);
    expect(passed).toBe(true);
  });
});
