import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auroraMaxConnections, processorConcurrencyCap } from '../../../infra/sizing.ts';

describe('auroraMaxConnections', () => {
  it('gives the published 189 for a 0.5–1 ACU range and caps at 2,000 below 1 ACU minimum, 5,000 otherwise', () => {
    // Prepare
    const cases = [
      { min: 0.5, max: 1, expected: 189 },
      { min: 0.5, max: 64, expected: 2000 },
      { min: 1, max: 64, expected: 5000 },
    ];

    // Act
    const actual = cases.map((c) => auroraMaxConnections(c.min, c.max));

    // Assess
    expect(actual).toEqual(cases.map((c) => c.expected));
  });
});

describe('processorConcurrencyCap', () => {
  it('never lets all functions at their limits use more connections than the database allows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 5000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 10 }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 20 }),
        (connections, poolSize, others, headroom) => {
          const input = { databaseConnections: connections, poolSize, others: others.map((c, i) => ({ name: `f${i}`, concurrency: c })), headroom, lawMaximum: 50 };
          const othersUse = others.reduce((sum, c) => sum + c * poolSize, 0);
          let cap: number;
          try {
            cap = processorConcurrencyCap(input);
          } catch {
            // It refuses exactly when two processors do not fit.
            expect(othersUse + headroom + 2 * poolSize).toBeGreaterThan(connections);
            return;
          }
          expect(cap).toBeGreaterThanOrEqual(2);
          expect(cap).toBeLessThanOrEqual(50);
          expect(othersUse + headroom + cap * poolSize).toBeLessThanOrEqual(connections);
          // And it is the largest such cap (below the law's own maximum).
          if (cap < 50) expect(othersUse + headroom + (cap + 1) * poolSize).toBeGreaterThan(connections);
        },
      ),
    );
  });
});
