import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectBottlenecks } from '../../../lib/tune/bottlenecks.ts';
import { signals, type Observation, type SignalName } from '../../../lib/tune/signals.ts';
import { flat, healthy, observe, PERIOD_SECONDS, ramp, T0 } from './observations.ts';

const PERIOD_MS = PERIOD_SECONDS * 1000;

describe('detectBottlenecks', () => {
  it('finds nothing in a healthy, flat window', () => {
    // Prepare
    const observation = observe(healthy());

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found).toEqual([]);
  });

  it('finds nothing, and does not throw, without datapoints', () => {
    // Prepare
    const empty = observe({}, { periods: 5 });
    const missing = { from: T0, to: T0 + 5 * PERIOD_MS, periodSeconds: PERIOD_SECONDS, series: {} } as unknown as Observation;

    // Act
    const found = [detectBottlenecks(empty), detectBottlenecks(missing)];

    // Assess
    expect(found).toEqual([[], []]);
  });

  it('reports a growing queue with its metric, window, values and a recommendation', () => {
    // Prepare
    const depth = ramp(5, 3, 43);
    const observation = observe({ ...healthy(), queueDepth: depth });

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      component: 'partitionQueue',
      kind: 'queueGrowth',
      evidence: { metric: 'queueDepth', window: { from: T0, to: T0 + 5 * PERIOD_MS }, values: depth },
    });
    expect(found[0].recommendation).toContain('3 → 43');
    expect(found[0].recommendation).toContain('maxConcurrency');
  });

  it.each([
    ['rises by less than 10 messages', [3, 5, 7, 9, 12]],
    ['dips and ends just above its start (least-squares slope < 0)', [100, 90, 60, 30, 110]],
    ['has only two datapoints', [3, 100]],
  ])('does not call a queue growing when it %s', (_, depth) => {
    // Prepare
    const observation = observe({ ...healthy(depth.length), queueDepth: depth });

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found.map((b) => b.kind)).not.toContain('queueGrowth');
  });

  it('reports the oldest message ageing, and not a flat age', () => {
    // Prepare
    const ageing = observe({ ...healthy(), oldestMessageAgeSeconds: [20, 80, 140, 200, 260] });
    const steady = observe({ ...healthy(), oldestMessageAgeSeconds: [20, 25, 18, 30, 22] });

    // Act
    const found = detectBottlenecks(ageing);
    const none = detectBottlenecks(steady);

    // Assess
    expect(found.map((b) => [b.component, b.kind, b.evidence.metric])).toEqual([['partitionQueue', 'ageGrowth', 'oldestMessageAgeSeconds']]);
    expect(none).toEqual([]);
  });

  it.each([['durationMs'], ['partitionMs']] as const)('reports a %s spike past 2× the earlier median, not one below it', (metric) => {
    // Prepare
    const base = healthy()[metric][0];
    const spiking = observe({ ...healthy(), [metric]: [base, base, base, base, base * 2.5] });
    const rising = observe({ ...healthy(), [metric]: [base, base, base, base, base * 1.9] });

    // Act
    const found = detectBottlenecks(spiking);
    const none = detectBottlenecks(rising);

    // Assess
    expect(found.map((b) => [b.component, b.kind, b.evidence.metric])).toEqual([['processor', 'latencySpike', metric]]);
    expect(found[0].evidence.summary).toContain('2.5×');
    expect(none).toEqual([]);
  });

  it('reports a throughput drop while messages wait, not when the queue is empty', () => {
    // Prepare
    const records = [3e6, 3e6, 3.2e6, 2.9e6, 1e6];
    const waiting = observe({ ...healthy(), recordsProcessed: records, queueDepth: [3, 3, 3, 3, 8] });
    const drained = observe({ ...healthy(), recordsProcessed: records, queueDepth: [3, 2, 1, 0, 0] });

    // Act
    const found = detectBottlenecks(waiting);
    const none = detectBottlenecks(drained);

    // Assess
    expect(found.map((b) => [b.kind, b.evidence.metric])).toEqual([['throughputDrop', 'recordsProcessed']]);
    expect(none).toEqual([]);
  });

  it('reports an error rate above 5% of invocations, with the rate, and not one below', () => {
    // Prepare: 2 of 30 and 1 of 30 invocations a period.
    const failing = observe({ ...healthy(), errors: flat(5, 2) });
    const fine = observe({ ...healthy(), errors: flat(5, 1) });

    // Act
    const found = detectBottlenecks(failing);
    const none = detectBottlenecks(fine);

    // Assess
    expect(found.map((b) => [b.component, b.kind])).toEqual([['processor', 'errorRateSpike']]);
    expect(found[0].evidence.summary).toContain(`${Number(((10 / 150) * 100).toFixed(2))}%`);
    expect(none).toEqual([]);
  });

  it('reports any throttle', () => {
    // Prepare
    const observation = observe({ ...healthy(), throttles: [0, 0, 3, 0, 0] });

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found.map((b) => [b.kind, b.evidence.values])).toEqual([['throttles', [0, 0, 3, 0, 0]]]);
  });

  it.each([
    ['a refused connection', { dbConnectionErrors: [0, 0, 0, 0, 1] }, 'dbConnectionErrors'],
    ['lock waits at half the merge time', { lockWaitMs: flat(5, 300), mergeMs: flat(5, 600) }, 'lockWaitMs'],
    ['merges taking most of the partition time, and rising', { mergeMs: ramp(5, 12_000, 16_000), partitionMs: flat(5, 20_000) }, 'mergeMs'],
  ] as const)('reports database saturation from %s', (_, trace, metric) => {
    // Prepare
    const observation = observe({ ...healthy(), ...trace });

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found.map((b) => [b.component, b.kind, b.evidence.metric])).toEqual([['database', 'databaseSaturation', metric]]);
  });

  it.each([
    ['lock waits are a large share of short merges', { lockWaitMs: flat(5, 50), mergeMs: flat(5, 100) }],
    ['merges take most of the partition time but do not rise', { mergeMs: flat(5, 15_000), partitionMs: flat(5, 20_000) }],
  ] as const)('does not call the database saturated when %s', (_, trace) => {
    // Prepare
    const observation = observe({ ...healthy(), ...trace });

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found).toEqual([]);
  });

  it('looks only at the datapoints present when a series has gaps', () => {
    // Prepare
    const observation = observe({ ...healthy(6), queueDepth: [3, null, 20, null, 40, 60] });

    // Act
    const found = detectBottlenecks(observation);

    // Assess
    expect(found[0].evidence).toMatchObject({ values: [3, 20, 40, 60], window: { from: T0, to: T0 + 6 * PERIOD_MS } });
  });

  it('honours thresholds passed in', () => {
    // Prepare
    const observation = observe({ ...healthy(), errors: flat(5, 1) });

    // Act
    const found = detectBottlenecks(observation, { errorRate: 0.02 });

    // Assess
    expect(found.map((b) => b.kind)).toEqual(['errorRateSpike']);
  });

  it('never throws nor reports a non-finite figure, whatever the series', () => {
    const values = fc.array(fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.constant(0), fc.constant(Number.NaN)), { maxLength: 8 });
    const names = Object.keys(signals) as SignalName[];
    fc.assert(
      fc.property(fc.tuple(...names.map(() => values)), (arrays) => {
        // Prepare
        const observation = observe(Object.fromEntries(names.map((n, i) => [n, arrays[i]])));

        // Act
        const found = detectBottlenecks(observation);

        // Assess
        for (const b of found) {
          expect(b.evidence.values.every(Number.isFinite)).toBe(true);
          expect(b.recommendation).not.toMatch(/NaN|Infinity/);
        }
      }),
    );
  });
});
