import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRowGroups, type RowGroupExtent } from '../../../lib/split/partitionPlan.ts';

/** Row groups laid end to end from byte 4 (after "PAR1"), each of the given decoded size. */
function groupsOf(sizes: readonly number[]): RowGroupExtent[] {
  let at = 4;
  return sizes.map((bytes) => {
    const start = at;
    at += Math.max(1, Math.floor(bytes / 3));
    return { start, end: at, bytes };
  });
}

describe('planRowGroups', () => {
  it('tiles the row groups in order, each partition as many whole groups as fit its size, a larger group alone', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 60 }), fc.integer({ min: 1, max: 8000 }), (sizes, partitionBytes) => {
        // Prepare
        const groups = groupsOf(sizes);

        // Act
        const plans = planRowGroups({ key: 'k', groups, partitionBytes });

        // Assess: contiguous, covering [0, n), indexes 0.. in order.
        expect(plans.map((p) => p.idx)).toEqual(plans.map((_, i) => i));
        let next = 0;
        for (const p of plans) {
          const { start, end } = p.rowGroups!;
          expect(start).toBe(next);
          expect(end).toBeGreaterThan(start);
          next = end;
          const bytes = sizes.slice(start, end).reduce((a, b) => a + b, 0);
          // Within the size unless one group alone exceeds it; and greedy: the next group would not fit.
          if (end - start > 1) expect(bytes).toBeLessThanOrEqual(partitionBytes);
          if (end < sizes.length) expect(bytes + sizes[end]).toBeGreaterThan(partitionBytes);
          // The byte range spans exactly its groups' chunks.
          expect([p.rangeStart, p.rangeEnd]).toEqual([groups[start].start, groups[end - 1].end]);
          expect(p.exactRange).toBe(false);
        }
        expect(next).toBe(sizes.length);
      }),
    );
  });

  it('plans no partition for a file without row groups', () => {
    // Act
    const plans = planRowGroups({ key: 'k', groups: [], partitionBytes: 100 });

    // Assess
    expect(plans).toEqual([]);
  });
});
