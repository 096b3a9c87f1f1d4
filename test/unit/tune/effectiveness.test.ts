import { describe, expect, it } from 'vitest';
import { measureEffectiveness } from '../../../lib/tune/effectiveness.ts';
import { flat, healthy, observe, PERIOD_SECONDS } from './observations.ts';

const WINDOW_MS = 5 * PERIOD_SECONDS * 1000;
const before = (trace = {}) => observe({ ...healthy(), ...trace });
const after = (trace = {}) => observe({ ...healthy(), ...trace }, { from: before().to });

describe('measureEffectiveness', () => {
  it('scores a concurrency change by the relative change of records per second', () => {
    // Prepare: 3e6 records a period before, 4.5e6 after.
    const b = before();
    const a = after({ recordsProcessed: flat(5, 4.5e6) });

    // Act
    const { effectiveness, detail } = measureEffectiveness('maxConcurrency', b, a);

    // Assess
    expect(effectiveness).toBeCloseTo(4.5e6 / 3e6 - 1, 10);
    expect(detail).toContain(`${(5 * 3e6) / (WINDOW_MS / 1000)} → ${(5 * 4.5e6) / (WINDOW_MS / 1000)}`);
  });

  it('charges errors that appear at twice their share of invocations', () => {
    // Prepare: +50 % throughput, but 3 of 30 invocations now fail.
    const b = before();
    const a = after({ recordsProcessed: flat(5, 4.5e6), errors: flat(5, 3) });

    // Act
    const { effectiveness } = measureEffectiveness('maxConcurrency', b, a);

    // Assess
    expect(effectiveness).toBeCloseTo(0.5 - 2 * (3 / 30), 10);
  });

  it('counts in favour a decrease that stops refused connections, though it slows the work', () => {
    // Prepare: 6 of 30 invocations failed to connect (and so errored) before; 10 % fewer records after, no failures.
    const b = before({ errors: flat(5, 6), dbConnectionErrors: flat(5, 6) });
    const a = after({ recordsProcessed: flat(5, 2.7e6) });

    // Act
    const { effectiveness } = measureEffectiveness('maxConcurrency', b, a);

    // Assess
    expect(effectiveness).toBeCloseTo(-0.1 + 2 * (6 / 30 + 6 / 30), 10);
    expect(effectiveness).toBeGreaterThan(0);
  });

  it('charges throttles as a share of attempted invocations', () => {
    // Prepare: 10 throttled for 30 invoked a period.
    const b = before();
    const a = after({ throttles: flat(5, 10) });

    // Act
    const { effectiveness } = measureEffectiveness('reservedConcurrency', b, a);

    // Assess
    expect(effectiveness).toBeCloseTo(-2 * (10 / 40), 10);
  });

  it('scores a partition-size change by records per second of processor time, not of the window', () => {
    // Prepare: the same records in invocations of 15 s instead of 20 s.
    const b = before();
    const a = after({ durationMs: flat(5, 15_000) });

    // Act
    const partition = measureEffectiveness('partitionBytes', b, a);
    const concurrency = measureEffectiveness('maxConcurrency', b, a);

    // Assess
    expect(partition.effectiveness).toBeCloseTo(20 / 15 - 1, 10);
    expect(concurrency.effectiveness).toBe(0);
  });

  it('scores windows without work as 0, and work from nothing as +1', () => {
    // Prepare
    const idle = observe({}, { periods: 5 });

    // Act
    const none = measureEffectiveness('batchSize', idle, idle);
    const started = measureEffectiveness('maxConcurrency', idle, after());

    // Assess
    expect(none.effectiveness).toBe(0);
    expect(none.detail).not.toMatch(/NaN|Infinity/);
    expect(started.effectiveness).toBe(1);
  });
});
