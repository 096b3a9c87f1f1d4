import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recommend, type TuningInput } from '../../../lib/tune/controlLaw.ts';
import { signals, type Recommendation, type SignalName, type TunableParameter, type TunableSettings } from '../../../lib/tune/signals.ts';
import { flat, healthy, MiB, observe, PERIOD_SECONDS, ramp, T0, type Trace } from './observations.ts';

const PERIOD_MS = PERIOD_SECONDS * 1000;
/** The end of the five-period window `healthy()` describes. */
const NOW = T0 + 5 * PERIOD_MS;
const SETTINGS: TunableSettings = { batchSize: 1, maxConcurrency: 10, reservedConcurrency: 10, partitionBytes: 64 * MiB };
const PARAMETERS: TunableParameter[] = ['maxConcurrency', 'reservedConcurrency', 'partitionBytes', 'batchSize'];
const GROWING = ramp(5, 3, 60);

/** The law's recommendations by parameter. */
function run(trace: Trace, overrides: Partial<TuningInput> = {}): Record<TunableParameter, Recommendation> {
  const { recommendations } = recommend({ settings: SETTINGS, observation: observe(trace), now: NOW, lastChanges: {}, ...overrides });
  return Object.fromEntries(recommendations.map((r) => [r.parameter, r])) as Record<TunableParameter, Recommendation>;
}

const value = (r: Recommendation) => r.recommendedValue;

describe('recommend: maxConcurrency and reservedConcurrency', () => {
  it('adds exactly one step when the backlog grows and the database is healthy; the reservation follows', () => {
    // Prepare
    const trace = { ...healthy(), queueDepth: GROWING };

    // Act
    const r = run(trace);

    // Assess
    expect(value(r.maxConcurrency)).toBe(10 + 2);
    expect(value(r.reservedConcurrency)).toBe(10 + 2);
    expect(r.maxConcurrency.reason).toContain('3 → 60');
    expect(r.maxConcurrency.expectedImprovement).toContain('1.2×');
  });

  it('adds a step when only the oldest message ages', () => {
    // Prepare
    const trace = { ...healthy(), oldestMessageAgeSeconds: [20, 100, 180, 260, 340] };

    // Act
    const r = run(trace);

    // Assess
    expect(value(r.maxConcurrency)).toBe(12);
  });

  it.each([
    ['lock waits are half the merge time', { lockWaitMs: flat(5, 300), mergeMs: flat(5, 600) }],
    ['the database refuses connections', { dbConnectionErrors: [0, 0, 2, 0, 1] }],
    ['Lambda throttles', { throttles: [0, 4, 0, 0, 0] }],
    ['invocations fail (10% of them)', { errors: flat(5, 3) }],
  ])('halves when %s, even while the backlog grows', (_, trouble) => {
    // Prepare
    const trace = { ...healthy(), queueDepth: GROWING, ...trouble };

    // Act
    const r = run(trace);

    // Assess
    expect(value(r.maxConcurrency)).toBe(5);
    expect(value(r.reservedConcurrency)).toBe(5);
  });

  it('rounds a multiplicative decrease down', () => {
    // Prepare
    const trace = { ...healthy(), dbConnectionErrors: [0, 0, 0, 0, 1] };

    // Act
    const r = run(trace, { settings: { ...SETTINGS, maxConcurrency: 7, reservedConcurrency: 7 } });

    // Assess
    expect(value(r.maxConcurrency)).toBe(3);
  });

  it('holds between the hold line and saturation: lock waits at 1/6 of merge time', () => {
    // Prepare: 80 of 480 ms is above half the 30 % line and above half of 100 ms, below saturation.
    const held = { ...healthy(), queueDepth: GROWING, lockWaitMs: flat(5, 80), mergeMs: flat(5, 480) };
    const healthyLocks = { ...healthy(), queueDepth: GROWING, lockWaitMs: flat(5, 40), mergeMs: flat(5, 480) };

    // Act
    const hold = run(held);
    const grow = run(healthyLocks);

    // Assess
    expect(value(hold.maxConcurrency)).toBe(10);
    expect(hold.maxConcurrency.reason).toContain('hold line');
    expect(value(grow.maxConcurrency)).toBe(12);
  });

  it('keeps an unreserved function unreserved unless maxConcurrency changes', () => {
    // Prepare
    const settings = { ...SETTINGS, reservedConcurrency: null };

    // Act
    const steady = run(healthy(), { settings });
    const growing = run({ ...healthy(), queueDepth: GROWING }, { settings });

    // Assess
    expect(value(steady.reservedConcurrency)).toBeNull();
    expect(value(growing.reservedConcurrency)).toBe(12);
  });

  it('raises a reservation below maxConcurrency to it', () => {
    // Prepare
    const settings = { ...SETTINGS, reservedConcurrency: 6 };

    // Act
    const r = run(healthy(), { settings });

    // Assess
    expect(value(r.maxConcurrency)).toBe(10);
    expect(value(r.reservedConcurrency)).toBe(10);
  });

  it.each([
    ['at the top, growing', 50, { queueDepth: GROWING }, {}, 50],
    ['one below a custom top, growing', 10, { queueDepth: GROWING }, { maxConcurrency: 11 }, 11],
    ['at the AWS minimum of 2, saturated', 2, { dbConnectionErrors: flat(5, 1) }, {}, 2],
    ['at 3, saturated (⌊1.5⌋ is below 2)', 3, { dbConnectionErrors: flat(5, 1) }, {}, 2],
    ['above the top, steady', 80, {}, {}, 50],
  ])('stays within bounds %s', (_, current, trouble, bounds, expected) => {
    // Prepare
    const settings = { ...SETTINGS, maxConcurrency: current, reservedConcurrency: current };

    // Act
    const r = run({ ...healthy(), ...trouble }, { settings, bounds });

    // Assess
    expect(value(r.maxConcurrency)).toBe(expected);
  });
});

describe('recommend: partitionBytes and batchSize', () => {
  /** 30 invocations a period of 20 s each, reading `perInvocation` bytes: the 20 s size is `perInvocation`. */
  const reading = (perInvocation: number) => ({ ...healthy(), bytesRead: flat(5, 30 * perInvocation) });

  it.each([
    ['rounds to a whole MiB', 77.4 * MiB, 50 * MiB, 77 * MiB],
    ['grows past the 25 % band', 81 * MiB, 64 * MiB, 81 * MiB],
    ['clamps to 128 MiB', 300 * MiB, 64 * MiB, 128 * MiB],
    ['clamps to 1 MiB', 0.2 * MiB, 4 * MiB, 1 * MiB],
    ['keeps within the 25 % band', 75 * MiB, 64 * MiB, 64 * MiB],
    ['keeps just inside the band below', 49 * MiB, 64 * MiB, 64 * MiB],
  ])('sizes partitions to take 20 s: %s', (_, perInvocation, current, expected) => {
    // Prepare
    const settings = { ...SETTINGS, partitionBytes: current };

    // Act
    const r = run(reading(perInvocation), { settings });

    // Assess
    expect(value(r.partitionBytes)).toBe(expected);
  });

  it('measures bytes per second of invocation time across uneven periods', () => {
    // Prepare: by hand, (400 + 800) MiB over (10 × 10 + 20 × 5) s of invocations = 6 MiB/s; × 20 s = 120 MiB.
    const trace = { ...healthy(2), invocations: [10, 20], durationMs: [10_000, 5_000], bytesRead: [400 * MiB, 800 * MiB] };

    // Act
    const r = run(trace);

    // Assess
    expect(value(r.partitionBytes)).toBe(120 * MiB);
  });

  it.each([
    ['2 s partitions: 10 fill 20 s', 2_000, 1, 10],
    ['4 s partitions: 5 fill 20 s', 4_000, 1, 5],
    ['6 s partitions are not fast', 6_000, 1, 1],
    ['fast partitions, batch already larger', 4_000, 8, 8],
    ['20 s partitions in batches of 8 take 160 s', 19_800, 8, 1],
  ])('batches partitions: %s', (_, partitionMs, current, expected) => {
    // Prepare: at the 128 MiB bound already, so partition size cannot absorb the speed.
    const settings = { ...SETTINGS, batchSize: current, partitionBytes: 128 * MiB };
    const trace = { ...healthy(), bytesRead: flat(5, 30 * 1024 * MiB), partitionMs: flat(5, partitionMs) };

    // Act
    const r = run(trace, { settings });

    // Assess
    expect(value(r.partitionBytes)).toBe(128 * MiB);
    expect(value(r.batchSize)).toBe(expected);
  });

  it('keeps batchSize while partitionBytes changes', () => {
    // Prepare
    const trace = { ...reading(16 * MiB), partitionMs: flat(5, 2_000) };

    // Act
    const r = run(trace);

    // Assess
    expect(value(r.partitionBytes)).toBe(16 * MiB);
    expect(value(r.batchSize)).toBe(1);
  });
});

describe('recommend: when to keep', () => {
  it('keeps every parameter in a steady state, with no expected improvement', () => {
    // Prepare
    const trace = healthy();

    // Act
    const { recommendations, bottlenecks } = recommend({ settings: SETTINGS, observation: observe(trace), now: NOW, lastChanges: {} });

    // Assess
    expect(bottlenecks).toEqual([]);
    expect(recommendations.map((r) => r.parameter)).toEqual(PARAMETERS);
    for (const r of recommendations) {
      expect(r.recommendedValue).toBe(r.currentValue);
      expect(r.reason).toMatch(/^keep: /);
      expect(r.expectedImprovement).toBe('none');
    }
  });

  it.each([
    ['no invocations', { ...healthy(), queueDepth: GROWING, invocations: flat(5, 0) }],
    ['no datapoints at all', {}],
  ])('keeps everything with %s, saying so', (_, trace) => {
    // Prepare
    const observation = observe(trace, { periods: 5 });

    // Act
    const { recommendations } = recommend({ settings: SETTINGS, observation, now: NOW, lastChanges: {} });

    // Assess
    for (const r of recommendations) {
      expect(r.recommendedValue).toBe(r.currentValue);
      expect(r.reason).toContain('not enough data');
    }
  });

  it('keeps a parameter changed less than 300 s ago, and moves it at 300 s', () => {
    // Prepare
    const trace = { ...healthy(), queueDepth: GROWING, bytesRead: flat(5, 30 * 100 * MiB) };

    // Act
    const recent = run(trace, { lastChanges: { maxConcurrency: NOW - 299_000, partitionBytes: NOW - 10_000 } });
    const due = run(trace, { lastChanges: { maxConcurrency: NOW - 300_000, partitionBytes: NOW - 300_000 } });

    // Assess
    expect(value(recent.maxConcurrency)).toBe(10);
    expect(recent.maxConcurrency.reason).toMatch(/^keep: cooldown/);
    expect(value(recent.partitionBytes)).toBe(64 * MiB);
    expect(value(due.maxConcurrency)).toBe(12);
    expect(value(due.partitionBytes)).toBe(100 * MiB);
  });

  it('ignores the periods before the last change', () => {
    // Prepare: the queue grew before a change 5 periods ago and has been flat since.
    const trace = { ...healthy(10), queueDepth: [...ramp(5, 3, 60), ...flat(5, 60)] };
    const now = T0 + 10 * PERIOD_MS;

    // Act
    const before = recommend({ settings: SETTINGS, observation: observe(trace), now, lastChanges: {} });
    const after = recommend({ settings: SETTINGS, observation: observe(trace), now, lastChanges: { maxConcurrency: T0 + 5 * PERIOD_MS } });

    // Assess
    expect(before.recommendations[0].recommendedValue).toBe(12);
    expect(after.recommendations[0].recommendedValue).toBe(10);
    expect(after.bottlenecks).toEqual([]);
  });

  it('keeps the partition size when next to nothing was read, rather than sizing on ~0 bytes/s', () => {
    // Prepare: the counterexample fast-check found (signals in catalogue order), 1e-25 bytes read.
    const names = Object.keys(signals) as SignalName[];
    const arrays = [[], [], [3.1555099925984023e-25], [], [], [2013222.6138037543], [], [], [], [5e-324], [], [], [], [], [], []];
    const observation = observe(Object.fromEntries(names.map((n, i) => [n, arrays[i] ?? []])), { periods: 6 });
    const settings = { batchSize: 1, maxConcurrency: 2, reservedConcurrency: null, partitionBytes: 1398102 };

    // Act
    const partition = recommend({ settings, observation, now: NOW, lastChanges: {} }).recommendations[2]!;

    // Assess
    expect(partition.recommendedValue).toBe(settings.partitionBytes);
    expect(partition.reason).not.toMatch(/NaN|Infinity/);
  });

  it('stays within bounds and gives one recommendation per parameter, whatever it observes', () => {
    const series = fc.array(fc.oneof(fc.double({ min: 0, max: 1e10, noNaN: true }), fc.constant(0)), { maxLength: 6 });
    const names = Object.keys(signals) as SignalName[];
    const settings = fc.record({
      batchSize: fc.integer({ min: 1, max: 10 }),
      maxConcurrency: fc.integer({ min: 2, max: 50 }),
      reservedConcurrency: fc.option(fc.integer({ min: 2, max: 50 })),
      partitionBytes: fc.integer({ min: MiB, max: 128 * MiB }),
    });
    fc.assert(
      fc.property(settings, fc.tuple(...names.map(() => series)), fc.option(fc.integer({ min: 0, max: 600_000 })), (s, arrays, ago) => {
        // Prepare
        const observation = observe(Object.fromEntries(names.map((n, i) => [n, arrays[i]])), { periods: 6 });
        const lastChanges = ago === null ? {} : { maxConcurrency: NOW - ago };

        // Act
        const { recommendations } = recommend({ settings: s, observation, now: NOW, lastChanges });

        // Assess
        expect(recommendations.map((r) => r.parameter)).toEqual(PARAMETERS);
        const [max, reserved, partition, batch] = recommendations.map(value);
        expect(max).toBeGreaterThanOrEqual(2);
        expect(max).toBeLessThanOrEqual(50);
        if (reserved !== null) expect(reserved).toBeGreaterThanOrEqual(max!);
        expect(partition).toBeGreaterThanOrEqual(MiB);
        expect(partition).toBeLessThanOrEqual(128 * MiB);
        if (partition !== s.partitionBytes) expect(partition! % MiB).toBe(0);
        expect(batch).toBeGreaterThanOrEqual(1);
        expect(batch).toBeLessThanOrEqual(10);
        for (const r of recommendations) expect(`${r.reason} ${r.expectedImprovement}`).not.toMatch(/NaN|Infinity|undefined/);
      }),
    );
  });
});

describe('recommend in a loop over a simulated pipeline', () => {
  /**
   * A queue fed `arrivals(k)` bytes in period k, drained by up to maxConcurrency workers that each
   * read 4 MiB/s and merge for 500 ms plus lock waits of `lockWaitPerWorkerMs` for every busy worker
   * past `knee`; past `connectionLimit` busy workers, the extra ones are refused by the database
   * (10 failed invocations a period each) and do no work.
   */
  interface Plant {
    readonly arrivals: (k: number) => number;
    readonly knee: number;
    readonly lockWaitPerWorkerMs: number;
    readonly connectionLimit: number;
  }
  const READ_BYTES_PER_SECOND = 4 * MiB;
  const MERGE_MS = 500;
  const START_MS = 200;
  const BYTES_PER_RECORD = 200;
  /** One worker's bytes per period with 80 MiB partitions and no lock waits: 80 MiB per 20.7 s. */
  const WORKER = (80 * MiB * PERIOD_MS) / (20_000 + MERGE_MS + START_MS);
  const START: TunableSettings = { batchSize: 1, maxConcurrency: 2, reservedConcurrency: 2, partitionBytes: 80 * MiB };

  function simulate(plant: Plant, start: TunableSettings, periods = 500) {
    let s = start;
    let backlog = 0;
    const rows: Partial<Record<SignalName, number | null>>[] = [];
    const settings: TunableSettings[] = [];
    const backlogs: number[] = [];
    const lastChanges: Partial<Record<TunableParameter, number>> = {};
    for (let k = 0; k < periods; k++) {
      const arriving = plant.arrivals(k);
      const pending = backlog + arriving;
      const lockWait = (busy: number) => Math.max(0, busy - plant.knee) * plant.lockWaitPerWorkerMs;
      const partitionMs = (busy: number) => (s.partitionBytes / READ_BYTES_PER_SECOND) * 1000 + MERGE_MS + lockWait(busy);
      const perWorker = (busy: number) => (PERIOD_MS * s.batchSize * s.partitionBytes) / (s.batchSize * partitionMs(busy) + START_MS);
      let busy = s.maxConcurrency;
      for (let i = 0; i < 5; i++) busy = Math.min(s.maxConcurrency, pending / perWorker(busy));
      const refused = Math.max(0, busy - plant.connectionLimit);
      const served = Math.min(pending, (busy - refused) * perWorker(busy));
      const ok = served / (s.batchSize * s.partitionBytes);
      const failed = refused * 10;
      const invocations = ok + failed;
      backlog = pending - served;
      rows.push({
        queueDepth: backlog / s.partitionBytes,
        oldestMessageAgeSeconds: arriving > 0 ? backlog / (arriving / PERIOD_SECONDS) : 0,
        invocations,
        errors: failed,
        throttles: 0,
        durationMs: invocations > 0 ? (ok * (s.batchSize * partitionMs(busy) + START_MS) + failed * 1000) / invocations : null,
        concurrency: busy,
        recordsProcessed: served / BYTES_PER_RECORD,
        bytesRead: served,
        partitionMs: ok > 0 ? partitionMs(busy) : null,
        mergeMs: ok > 0 ? MERGE_MS + lockWait(busy) : null,
        lockWaitMs: ok > 0 ? lockWait(busy) : null,
        dbConnectionErrors: failed,
      });
      settings.push(s);
      backlogs.push(backlog);

      // The tuner runs at the end of every period over the last 10, and applies what it recommends.
      const now = T0 + (k + 1) * PERIOD_MS;
      const first = Math.max(0, k - 9);
      const window = rows.slice(first);
      const trace = Object.fromEntries((Object.keys(signals) as SignalName[]).map((n) => [n, window.map((row) => row[n] ?? null)]));
      const { recommendations } = recommend({ settings: s, observation: observe(trace, { from: T0 + first * PERIOD_MS }), now, lastChanges });
      for (const r of recommendations) {
        if (r.recommendedValue === r.currentValue) continue;
        s = { ...s, [r.parameter]: r.recommendedValue };
        lastChanges[r.parameter] = now;
      }
    }
    return { settings, backlogs };
  }

  /** How often a sequence turns from rising to falling or back. */
  function directionChanges(values: readonly number[]): number {
    const steps = values.slice(1).map((v, i) => Math.sign(v - values[i])).filter((d) => d !== 0);
    return steps.slice(1).filter((d, i) => d !== steps[i]).length;
  }

  it('climbs to the load and settles below the lock-wait saturation point, the backlog drained', () => {
    // Prepare: the load needs 15 workers; merges saturate (lock waits ≥ 30 % of a merge, ≥ 100 ms) from 18.
    const plant: Plant = { arrivals: () => 15 * WORKER * 0.98, knee: 12, lockWaitPerWorkerMs: 40, connectionLimit: 40 };
    const saturatesAt = Array.from({ length: 50 }, (_, c) => c).find((c) => {
      const wait = Math.max(0, c - plant.knee) * plant.lockWaitPerWorkerMs;
      return wait >= 100 && wait >= 0.3 * (MERGE_MS + wait);
    })!;

    // Act
    const { settings, backlogs } = simulate(plant, START);

    // Assess
    const concurrency = settings.map((s) => s.maxConcurrency);
    const settled = concurrency.slice(100);
    expect(saturatesAt).toBe(18);
    expect(directionChanges(concurrency)).toBe(0);
    expect(Math.min(...settled)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...settled)).toBeLessThan(saturatesAt);
    expect(new Set(settled).size).toBe(1);
    expect(new Set(settings.slice(100).map((s) => `${s.partitionBytes}/${s.batchSize}/${s.reservedConcurrency}`)).size).toBe(1);
    expect(backlogs.at(-1)).toBe(0);
    expect(Math.max(...backlogs.slice(250))).toBeLessThanOrEqual(Math.max(...backlogs.slice(0, 250)));
  });

  it('backs off a hard connection limit once, then settles just below it without sawing', () => {
    // Prepare: the load needs 15.5 workers, the database takes 16 connections; AIMD from 3 climbs by 2 to 17 and is refused.
    const plant: Plant = { arrivals: () => 15.5 * WORKER, knee: Number.POSITIVE_INFINITY, lockWaitPerWorkerMs: 0, connectionLimit: 16 };

    // Act
    const { settings, backlogs } = simulate(plant, { ...START, maxConcurrency: 3, reservedConcurrency: 3 });

    // Assess
    const concurrency = settings.map((s) => s.maxConcurrency);
    expect(Math.max(...concurrency)).toBe(17);
    expect(directionChanges(concurrency)).toBeLessThanOrEqual(2);
    expect(new Set(concurrency.slice(150))).toEqual(new Set([16]));
    const draining = backlogs.slice(150);
    expect(draining.every((b, i) => i === 0 || b <= draining[i - 1])).toBe(true);
    expect(draining.at(-1)!).toBeLessThan(draining[0]);
  });

  it('rides a load that swings ±20 % without oscillating', () => {
    // Prepare: 13 workers' worth on average, 15.6 at the peaks, every hour.
    const plant: Plant = { arrivals: (k) => 13 * WORKER * (1 + 0.2 * Math.sin((2 * Math.PI * k) / 60)), knee: 12, lockWaitPerWorkerMs: 40, connectionLimit: 40 };

    // Act
    const { settings, backlogs } = simulate(plant, START);

    // Assess
    const concurrency = settings.map((s) => s.maxConcurrency);
    expect(directionChanges(concurrency)).toBeLessThanOrEqual(2);
    expect(new Set(concurrency.slice(200)).size).toBe(1);
    expect(concurrency.at(-1)).toBeGreaterThanOrEqual(13);
    expect(Math.max(...backlogs.slice(250))).toBeLessThanOrEqual(Math.max(...backlogs.slice(0, 250)));
  });

  it('stays put when there is no backlog', () => {
    // Prepare: half of what 10 workers can do.
    const plant: Plant = { arrivals: () => 5 * WORKER, knee: 12, lockWaitPerWorkerMs: 40, connectionLimit: 40 };
    const start = { ...START, maxConcurrency: 10, reservedConcurrency: 10 };

    // Act
    const { settings, backlogs } = simulate(plant, start);

    // Assess
    expect(settings.every((s) => JSON.stringify(s) === JSON.stringify(start))).toBe(true);
    expect(Math.max(...backlogs)).toBe(0);
  });
});
