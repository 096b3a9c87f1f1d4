import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DDSketch,
  SKETCH_RELATIVE_ACCURACY,
  SKETCH_ZERO_THRESHOLD,
  SketchError,
  sketchFromJson,
  sketchQuantile,
  type SketchJson,
} from '../../../lib/rollup/sketch.ts';

const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
// The guarantee is α exactly at a bucket's edges; logarithms rounded to the last bit may push a
// value that sits on an edge into the neighbouring bucket, off by a few ulps more.
const ALLOWED = SKETCH_RELATIVE_ACCURACY * (1 + 1e-9);
const QUANTILES = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1];

function sketchOf(values: readonly number[]): DDSketch {
  const sketch = new DDSketch();
  for (const v of values) sketch.add(v);
  return sketch;
}

/** The order statistic at rank floor(q·(n−1)) of the sorted values: the lower middle for the median. */
function trueQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

function relativeError(estimate: number, truth: number): number {
  if (truth === 0) return estimate === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Math.abs(estimate - truth) / Math.abs(truth);
}

// Unbiased uniform draws in (0, 1], the source of the distributions below.
const unit = fc.noBias(fc.integer({ min: 1, max: 2 ** 30 })).map((i) => i / 2 ** 30);
const normal = fc.tuple(unit, unit).map(([u, v]) => Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
const lognormal = normal.map((z) => Math.exp(3 + 2 * z));
const distributions = {
  uniform: unit.map((u) => u * 1000),
  lognormal,
  negative: lognormal.map((v) => -v),
  'mixed-sign': fc.tuple(lognormal, fc.boolean()).map(([v, negative]) => (negative ? -v : v)),
  'zero-heavy': fc.tuple(lognormal, unit).map(([v, u]) => (u < 0.6 ? 0 : v)),
  'wide-range': fc
    .double({ min: -1e300, max: 1e300, noNaN: true })
    .filter((v) => v === 0 || Math.abs(v) >= SKETCH_ZERO_THRESHOLD),
};

describe('DDSketch', () => {
  it.each(Object.entries(distributions))(
    'estimates the median and other quantiles within 1%% of the true order statistic (%s)',
    (_name, distribution) => {
      // Prepare
      const samples = fc.array(distribution, { minLength: 1, maxLength: 2000 });

      fc.assert(
        fc.property(samples, (values) => {
          // Act
          const sketch = sketchOf(values);

          // Assess
          for (const q of QUANTILES) {
            expect(relativeError(sketch.quantile(q)!, trueQuantile(values, q))).toBeLessThanOrEqual(ALLOWED);
          }
        }),
        { numRuns: 50 },
      );
    },
  );

  it('takes the lower middle as the median of an even number of values', () => {
    // Prepare
    const sketch = sketchOf([10, 20, 30, 1000]);

    // Act
    const median = sketch.quantile(0.5)!;

    // Assess
    expect(relativeError(median, 20)).toBeLessThanOrEqual(ALLOWED);
  });

  it('puts every value v in the key k with γ^(k−1) < |v| ≤ γ^k', () => {
    // Prepare
    const values = fc.double({ min: -1e300, max: 1e300, noNaN: true }).filter((v) => Math.abs(v) >= 1e-300);

    fc.assert(
      fc.property(values, (v) => {
        // Act
        const [name, ...others] = Object.keys(sketchOf([v]).toJSON());

        // Assess
        expect(others).toEqual([]);
        expect(name.startsWith(v > 0 ? 'p' : 'n')).toBe(true);
        const k = Number(name.slice(1));
        // Compared with a margin of 1e-12 for the rounding of γ^k itself.
        expect(Math.abs(v)).toBeGreaterThan(Math.pow(GAMMA, k - 1) * (1 - 1e-12));
        expect(Math.abs(v)).toBeLessThanOrEqual(Math.pow(GAMMA, k) * (1 + 1e-12));
      }),
    );
  });

  it('counts zero and magnitudes below the threshold as "z"', () => {
    // Prepare
    const values = [0, -0, 5e-324, -1e-310];

    // Act
    const json = sketchOf(values).toJSON();

    // Assess
    expect(json).toEqual({ z: 4 });
  });

  it('serialises to a flat object of integer counts in value order', () => {
    // Prepare
    // log_γ 1 = 0, and log_γ 1.5 = 20.27..., so 1.5 falls in key 21 (γ^20 = 1.4919 < 1.5 ≤ γ^21).
    const values = [1.5, -1.5, 1, 0, 1.5, -1];

    // Act
    const json = sketchOf(values).toJSON();

    // Assess
    expect(Object.entries(json)).toEqual([
      ['n21', 1],
      ['n0', 1],
      ['z', 1],
      ['p0', 1],
      ['p21', 2],
    ]);
  });

  it('merges split sketches into the sketch of the whole', () => {
    // Prepare
    const splits = fc.array(distributions['mixed-sign'], { maxLength: 500 }).chain((values) =>
      fc.tuple(fc.constant(values), fc.uniqueArray(fc.integer({ min: 0, max: values.length }), { maxLength: 5 })),
    );

    fc.assert(
      fc.property(splits, ([values, cuts]) => {
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), values.length];
        const parts = bounds.slice(1).map((end, i) => sketchOf(values.slice(bounds[i], end)));

        // Act
        const merged = new DDSketch();
        for (const part of parts) merged.merge(part);

        // Assess
        expect(merged.toJSON()).toEqual(sketchOf(values).toJSON());
        expect(merged.count).toBe(values.length);
      }),
    );
  });

  it('merges as the SQL layer does: by adding counts key by key', () => {
    // Prepare
    const halves = fc.tuple(fc.array(distributions['zero-heavy']), fc.array(distributions['mixed-sign']));

    fc.assert(
      fc.property(halves, ([a, b]) => {
        const [jsonA, jsonB] = [sketchOf(a).toJSON(), sketchOf(b).toJSON()];

        // Act
        const added: SketchJson = { ...jsonA };
        for (const [key, n] of Object.entries(jsonB)) added[key] = (added[key] ?? 0) + n;

        // Assess
        expect(sketchFromJson(added).toJSON()).toEqual(sketchOf([...a, ...b]).toJSON());
      }),
    );
  });

  it('merges into itself as doubling every count', () => {
    // Prepare
    const sketch = sketchOf([1, 2, 3, -4, 0]);
    const doubled = Object.fromEntries(Object.entries(sketch.toJSON()).map(([key, n]) => [key, 2 * n]));

    // Act
    sketch.merge(sketch);

    // Assess
    expect(sketch.toJSON()).toEqual(doubled);
  });

  it('reads back its JSON with the same counts and quantiles', () => {
    // Prepare
    const samples = fc.array(distributions['wide-range'], { maxLength: 300 });

    fc.assert(
      fc.property(samples, (values) => {
        const sketch = sketchOf(values);

        // Act
        const copy = sketchFromJson(JSON.parse(JSON.stringify(sketch)));

        // Assess
        expect(copy.toJSON()).toEqual(sketch.toJSON());
        expect(copy.count).toBe(values.length);
        for (const q of QUANTILES) expect(copy.quantile(q)).toBe(sketch.quantile(q));
      }),
    );
  });

  it('answers quantiles straight from JSON', () => {
    // Prepare
    const values = [3, 1, 4, 1, 5, 9, 2, 6];
    const json = JSON.parse(JSON.stringify(sketchOf(values)));

    // Act
    const median = sketchQuantile(json, 0.5)!;

    // Assess
    expect(relativeError(median, trueQuantile(values, 0.5))).toBeLessThanOrEqual(ALLOWED);
  });

  it('has no quantile when empty, and serialises as {}', () => {
    // Prepare
    const sketch = new DDSketch();

    // Act
    const [median, json] = [sketch.quantile(0.5), sketch.toJSON()];

    // Assess
    expect(median).toBeNull();
    expect(json).toEqual({});
    expect(sketchQuantile({}, 0.5)).toBeNull();
  });

  it.each([-0.1, 1.1, Number.NaN])('rejects the quantile %d', (q) => {
    // Prepare
    const sketch = sketchOf([1, 2, 3]);

    // Act
    const ask = () => sketch.quantile(q);

    // Assess
    expect(ask).toThrow(SketchError);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('rejects adding %d', (v) => {
    // Prepare
    const sketch = new DDSketch();

    // Act
    const add = () => sketch.add(v);

    // Assess
    expect(add).toThrow(SketchError);
    expect(sketch.count).toBe(0);
  });

  it.each([
    ['an array', [1]],
    ['null', null],
    ['a string', 'p1'],
    ['an unknown key', { q1: 1 }],
    ['a fractional count', { p1: 1.5 }],
    ['a negative count', { n1: -1 }],
    ['a count as a string', { z: '2' }],
    ['a key out of range', { p999999: 1 }],
  ])('refuses to read %s as a sketch', (_what, json) => {
    // Prepare
    const input: unknown = json;

    // Act
    const read = () => sketchFromJson(input);

    // Assess
    expect(read).toThrow(SketchError);
  });
});
