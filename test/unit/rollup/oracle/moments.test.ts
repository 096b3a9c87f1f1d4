import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addToMoments,
  createMoments,
  mergeMoments,
  readMoments,
  stddev,
  variance,
  type Moments,
} from './moments.ts';

/** The textbook two-pass computation: the mean first, then the squared deviations from it. */
function twoPass(values: readonly number[]) {
  const n = values.length;
  const mean = n === 0 ? 0 : values.reduce((a, b) => a + b, 0) / n;
  const m2 = values.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { n, mean, m2, variance: n < 2 ? null : m2 / (n - 1) };
}

function momentsOf(values: readonly number[]): Moments {
  const acc = createMoments(1);
  for (const x of values) addToMoments(acc, 0, x);
  return readMoments(acc, 0);
}

/** -0 as 0: Math.min and Math.max order -0 below 0; the moments keep whichever zero came first, equal as numbers. */
function zeroAsPositive(x: number | null): number | null {
  return x === null ? null : x + 0;
}

/**
 * |actual − expected| within `tolerance` relative to `scale`, plus 1e-300: squares of tiny values
 * (fast-check generates 1e-160) underflow to subnormals, where the last bit differs by order.
 */
function expectClose(actual: number, expected: number, tolerance: number, scale = Math.abs(expected)): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * scale + 1e-300);
}

const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });
const values = fc.array(finite, { maxLength: 300 });

describe('moments', () => {
  it('match a two-pass computation over the same values', () => {
    // Prepare
    const sumOfSquares = (xs: readonly number[]) => xs.reduce((a, x) => a + x * x, 0);

    fc.assert(
      fc.property(values, (xs) => {
        // Act
        const m = momentsOf(xs);

        // Assess
        const expected = twoPass(xs);
        const magnitude = xs.reduce((a, x) => a + Math.abs(x), 0);
        expect(m.count).toBe(xs.length);
        expectClose(m.sum, xs.reduce((a, b) => a + b, 0), 1e-12, magnitude);
        expect(zeroAsPositive(m.min)).toBe(xs.length === 0 ? null : zeroAsPositive(Math.min(...xs)));
        expect(zeroAsPositive(m.max)).toBe(xs.length === 0 ? null : zeroAsPositive(Math.max(...xs)));
        expectClose(m.mean, expected.mean, 1e-12, magnitude / Math.max(1, xs.length));
        expectClose(m.m2, expected.m2, 1e-10, sumOfSquares(xs));
      }),
    );
  });

  it('keep the variance of values near 1e9 exact where a sum of squares cancels out', () => {
    // Prepare
    // Noise uniform in [0, 1): unbiased, so every run has a spread to measure, at the resolution of
    // doubles near 1e9 (1.2e-7), which also bounds the precision any algorithm can reach.
    const uniform = fc.noBias(fc.integer({ min: 0, max: 2 ** 20 - 1 })).map((i) => i / 2 ** 20);
    const noisy = fc.array(uniform, { minLength: 1000, maxLength: 3000 });

    fc.assert(
      fc.property(noisy, (noise) => {
        const xs = noise.map((e) => 1e9 + e);

        // Act
        const got = variance(momentsOf(xs))!;

        // Assess
        const expected = twoPass(xs).variance!;
        expectClose(got, expected, 1e-6);
        // The premise: the naive formula over the same values is off by far more.
        const n = xs.length;
        const sum = xs.reduce((a, b) => a + b, 0);
        const naive = (xs.reduce((a, x) => a + x * x, 0) - (sum * sum) / n) / (n - 1);
        expect(Math.abs(naive - expected) / expected).toBeGreaterThan(1e-2);
      }),
      { numRuns: 20 },
    );
  });

  it('merge splits of the data into the moments of the whole', () => {
    // Prepare
    const splits = values.chain((xs) =>
      fc.tuple(fc.constant(xs), fc.uniqueArray(fc.integer({ min: 0, max: xs.length }), { maxLength: 6 })),
    );

    fc.assert(
      fc.property(splits, ([xs, cuts]) => {
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), xs.length];
        const parts = bounds.slice(1).map((end, i) => xs.slice(bounds[i], end));
        const accs = parts.map((part) => {
          const acc = createMoments(1);
          for (const x of part) addToMoments(acc, 0, x);
          return acc;
        });

        // Act
        const merged = createMoments(1);
        for (const acc of accs) mergeMoments(merged, 0, acc, 0);

        // Assess
        const got = readMoments(merged, 0);
        const whole = momentsOf(xs);
        const expected = twoPass(xs);
        const magnitude = xs.reduce((a, x) => a + Math.abs(x), 0);
        expect(got.count).toBe(whole.count);
        expect(got.min).toBe(whole.min);
        expect(got.max).toBe(whole.max);
        expectClose(got.sum, whole.sum, 1e-12, magnitude);
        expectClose(got.mean, expected.mean, 1e-12, magnitude / Math.max(1, xs.length));
        expectClose(got.m2, expected.m2, 1e-10, xs.reduce((a, x) => a + x * x, 0));
      }),
    );
  });

  it('copy the other side exactly when merging into an empty accumulator', () => {
    // Prepare
    const acc = createMoments(1);
    for (const x of [0.1, 0.7, 1 / 3]) addToMoments(acc, 0, x);
    const empty = createMoments(1);

    // Act
    mergeMoments(empty, 0, acc, 0);

    // Assess
    expect(readMoments(empty, 0)).toEqual(readMoments(acc, 0));
  });

  it('keep several metrics side by side without mixing them', () => {
    // Prepare
    const rows = [
      [1, 10, -5],
      [2, 20, -6],
      [4, 40, -7],
    ];
    const acc = createMoments(3);

    // Act
    for (const row of rows) row.forEach((x, m) => addToMoments(acc, m, x));

    // Assess
    for (let m = 0; m < 3; m++) {
      const column = rows.map((row) => row[m]);
      const expected = twoPass(column);
      const got = readMoments(acc, m);
      expect(got.count).toBe(3);
      expect(got.min).toBe(Math.min(...column));
      expect(got.max).toBe(Math.max(...column));
      expectClose(got.mean, expected.mean, 1e-15);
      expectClose(got.m2, expected.m2, 1e-15);
    }
  });

  it('have no variance or standard deviation below two values', () => {
    // Prepare
    const none = momentsOf([]);
    const one = momentsOf([42]);

    // Act
    const results = [variance(none), stddev(none), variance(one), stddev(one)];

    // Assess
    expect(results).toEqual([null, null, null, null]);
    expect(none).toEqual({ count: 0, sum: 0, min: null, max: null, mean: 0, m2: 0 });
  });

  it('give the sample variance and standard deviation from two values on', () => {
    // Prepare
    const m = momentsOf([3, 5, 10]);

    // Act
    const [v, s] = [variance(m), stddev(m)];

    // Assess
    // mean 6; squared deviations 9 + 1 + 16 = 26; sample variance 26 / 2.
    expect(v).toBe(13);
    expect(s).toBe(Math.sqrt(13));
  });
});
