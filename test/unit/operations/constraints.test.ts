import { describe, expect, it } from 'vitest';
import { bindingConstraints, NEAR, type ConstraintInput, type UsageFigures } from '../../../lib/operations/constraints.ts';

/** One function's figures; every field a test does not set is comfortably inside its limit. */
function usage(fn: string, over: Partial<{ peak: number; rss: number; configured: number | null; inUse: number | null; pool: number; max: number | null; visible: number | null }> = {}): UsageFigures {
  return {
    function: fn,
    invocations: 10,
    peakConcurrency: over.peak ?? 1,
    memory: { maxRssMib: over.rss ?? 100, configuredMb: over.configured === undefined ? 1024 : over.configured },
    connections: { maxInUse: over.inUse === undefined ? 3 : over.inUse, poolCap: over.pool ?? 2, maxConnections: over.max === undefined ? 100 : over.max },
    queue: { maxVisible: over.visible === undefined ? 0 : over.visible },
  };
}

const input = (over: Partial<ConstraintInput>): ConstraintInput => ({
  usage: [usage('processor')],
  processor: { maxConcurrency: 8, reservedConcurrency: 8 },
  oldestMessageAgeSeconds: 10,
  queueAgeCapSeconds: 900,
  ...over,
});

const verdict = (input: ConstraintInput, limit: string, fn?: string) => bindingConstraints(input).find((c) => c.limit === limit && (fn === undefined || c.function === fn))!;

describe('bindingConstraints', () => {
  it('binds the concurrency when the processors ran at their cap while messages waited, not when the queue was empty', () => {
    // Prepare: the cap is the smaller of the mapping's maximum and the reservation
    const atCap = input({ usage: [usage('processor', { peak: 5, visible: 40 })], processor: { maxConcurrency: 8, reservedConcurrency: 5 } });
    const idle = input({ usage: [usage('processor', { peak: 5, visible: 0 })], processor: { maxConcurrency: 8, reservedConcurrency: 5 } });
    const below = input({ usage: [usage('processor', { peak: 4, visible: 40 })], processor: { maxConcurrency: 8, reservedConcurrency: null } });

    // Act
    const [a, b, c] = [atCap, idle, below].map((i) => verdict(i, 'reservedConcurrency'));

    // Assess
    expect(a).toMatchObject({ binds: true, observed: 5, cap: 5 });
    expect(a.evidence).toContain('40 partition messages waited');
    expect(b).toMatchObject({ binds: false, observed: 5, cap: 5 });
    expect(c).toMatchObject({ binds: false, observed: 4, cap: 8 });
  });

  it("says the concurrency is unknown when the processor's settings could not be read", () => {
    // Act
    const v = verdict(input({ processor: undefined }), 'reservedConcurrency');

    // Assess
    expect(v).toMatchObject({ binds: false, cap: null });
    expect(v.evidence).toContain('unknown');
  });

  it("binds the connections near the smaller of max_connections and the processors' pools, not below", () => {
    // Prepare: processors' pools 2 × 8 = 16 < max_connections 100; 90% of 16 is 14.4
    const cap = 2 * 8;
    const near = input({ usage: [usage('processor', { inUse: Math.ceil(NEAR * cap), pool: 2, max: 100 })] });
    const under = input({ usage: [usage('processor', { inUse: Math.floor(NEAR * cap), pool: 2, max: 100 })] });
    // The server's own limit is the smaller one: 20 connections, 19 in use.
    const server = input({ usage: [usage('processor', { inUse: 19, pool: 4, max: 20 })] });

    // Act
    const [a, b, c] = [near, under, server].map((i) => verdict(i, 'databaseConnections'));

    // Assess
    expect(a).toMatchObject({ binds: true, observed: 15, cap });
    expect(b).toMatchObject({ binds: false, observed: 14, cap });
    expect(c).toMatchObject({ binds: true, observed: 19, cap: 20 });
    expect(c.evidence).toContain('max_connections');
  });

  it('binds a function’s memory from 90% of its configured size, per function, and says unknown without a configuration', () => {
    // Prepare
    const i = input({
      usage: [usage('processor', { rss: 0.95 * 1024, configured: 1024 }), usage('analytics', { rss: 0.5 * 512, configured: 512 }), usage('tuner', { configured: null })],
    });

    // Act
    const [p, a, t] = ['processor', 'analytics', 'tuner'].map((fn) => verdict(i, 'lambdaMemory', fn));

    // Assess
    expect(p).toMatchObject({ binds: true, observed: 972.8, cap: 1024 });
    expect(a).toMatchObject({ binds: false, observed: 256, cap: 512 });
    expect(t).toMatchObject({ binds: false, cap: null });
    expect(t.evidence).toContain('unknown');
  });

  it('binds the queue age from its cap, and says unknown without a datapoint', () => {
    // Act
    const old = verdict(input({ oldestMessageAgeSeconds: 900 }), 'queueAge');
    const young = verdict(input({ oldestMessageAgeSeconds: 899 }), 'queueAge');
    const none = verdict(input({ oldestMessageAgeSeconds: undefined }), 'queueAge');

    // Assess
    expect(old).toMatchObject({ binds: true, observed: 900, cap: 900 });
    expect(young).toMatchObject({ binds: false, observed: 899 });
    expect(none).toMatchObject({ binds: false, observed: null });
    expect(none.evidence).toContain('unknown');
  });

  it('judges every limit once, memory once per function, with no usage recorded at all', () => {
    // Act
    const all = bindingConstraints(input({ usage: [] }));

    // Assess
    expect(all.map((c) => c.limit)).toEqual(['reservedConcurrency', 'databaseConnections', 'queueAge']);
    expect(all.filter((c) => c.limit !== 'queueAge').every((c) => !c.binds && c.observed === null)).toBe(true);
  });
});
