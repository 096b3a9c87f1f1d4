import { PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { GetEventSourceMappingCommand, GetFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { describe, expect, inject, it } from 'vitest';
import { createCloudWatchClient, createLambdaClient } from '../../../lib/adapters/aws.ts';
import { DEFAULTS } from '../../../lib/config.ts';
import { topology } from '../../../lib/topology.ts';
import { METRICS_NAMESPACE } from '../../../lib/tune/signals.ts';
import { waitFor } from '../localstack/support.ts';
import { prepareCsv, uploadAndWait, usePipeline, type Pipeline } from '../pipeline/pipeline.ts';
import { call, all } from './client.ts';

/**
 * The operations routes through the local stack's HTTP API (the real `api` function in a worker),
 * over rows the real splitter, processor and compactor recorded, rows seeded here, and metrics
 * put into the endpoint's CloudWatch here. Expectations come from the seeds, from the partitions'
 * own timings and from the Lambda settings read here, not from the routes under test.
 */
const p = usePipeline('operations', { httpApiPort: 0, compactorIntervalMs: 1000 });
const clientOptions = { endpoint: inject('awsEndpoint'), region: inject('awsRegion') };
const cloudWatch = createCloudWatchClient(clientOptions);
const lambda = createLambdaClient(clientOptions);
const MINUTE = 60_000;

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
}

/** The most intervals open at once, counted by brute force over every start. */
function peak(rows: { start: number; ms: number }[]): number {
  return Math.max(...rows.map((r) => rows.filter((o) => o.start <= r.start && r.start < o.start + o.ms).length));
}

interface Seed {
  fn: string;
  start: number;
  ms: number;
  rss: number;
  memory: number | null;
  inUse: number;
  pool: number;
  maxConnections: number;
  visible: number | null;
}

async function seed(rows: Seed[]): Promise<void> {
  const { sql } = p.db;
  for (const [i, r] of rows.entries()) {
    await sql`insert into ${p.db.table('resource_usage')} ${sql({
      function: r.fn,
      request_id: `seed-${r.start}-${i}`,
      started_at: new Date(r.start),
      duration_ms: r.ms,
      succeeded: true,
      max_rss_mib: r.rss,
      memory_mb: r.memory,
      db_connections: r.inUse,
      pool_cap: r.pool,
      max_connections: r.maxConnections,
      queue_visible: r.visible,
      queue_in_flight: r.visible === null ? null : 1,
    })}`;
  }
}

/** A partition queue that grows every minute while the processors run cleanly (as the tuner test's). */
async function publishGrowingBacklog(p: Pipeline, endMinute: number, minutes: number): Promise<void> {
  const processor = p.stack.provisioned.functions.processor.name;
  const queue = p.stack.provisioned.queues.partitions.name;
  for (let m = 0; m < minutes; m++) {
    const Timestamp = new Date(endMinute - (minutes - m) * MINUTE + 1000);
    const fn = [{ Name: 'FunctionName', Value: processor }];
    const service = [{ Name: 'service', Value: processor }];
    const q = [{ Name: 'QueueName', Value: queue }];
    const aws: [string, MetricDatum][] = [
      ['AWS/SQS', { MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: q, Timestamp, Value: 20 * (m + 1), Unit: 'Count' }],
      ['AWS/SQS', { MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: q, Timestamp, Value: 30 * (m + 1), Unit: 'Seconds' }],
      ['AWS/Lambda', { MetricName: 'Invocations', Dimensions: fn, Timestamp, Value: 12, Unit: 'Count' }],
      ['AWS/Lambda', { MetricName: 'Errors', Dimensions: fn, Timestamp, Value: 0, Unit: 'Count' }],
      ['AWS/Lambda', { MetricName: 'Throttles', Dimensions: fn, Timestamp, Value: 0, Unit: 'Count' }],
      ['AWS/Lambda', { MetricName: 'Duration', Dimensions: fn, Timestamp, Value: 20_000, Unit: 'Milliseconds' }],
      ['AWS/Lambda', { MetricName: 'ConcurrentExecutions', Dimensions: fn, Timestamp, Value: 8, Unit: 'Count' }],
    ];
    for (const [Namespace, d] of aws) await cloudWatch.send(new PutMetricDataCommand({ Namespace, MetricData: [d] }));
    await cloudWatch.send(
      new PutMetricDataCommand({
        Namespace: METRICS_NAMESPACE,
        MetricData: [
          { MetricName: 'RecordsProcessed', Dimensions: service, Timestamp, Value: 12 * 180_000, Unit: 'Count' },
          { MetricName: 'BytesRead', Dimensions: service, Timestamp, Value: 12 * 8 * 1024 * 1024, Unit: 'Bytes' },
          { MetricName: 'PartitionDuration', Dimensions: service, Timestamp, Value: 20_000, Unit: 'Milliseconds' },
          { MetricName: 'DatabaseTime', Dimensions: service, Timestamp, Value: 2_000, Unit: 'Milliseconds' },
          { MetricName: 'LockWaitTime', Dimensions: service, Timestamp, Value: 1, Unit: 'Milliseconds' },
        ],
      }),
    );
  }
}

/** The processor's mapping and reservation, as Lambda (the endpoint) reports them. */
async function processorSettings(p: Pipeline): Promise<{ maxConcurrency: number; reserved: number | null }> {
  const f = p.stack.provisioned.functions.processor;
  const m = await lambda.send(new GetEventSourceMappingCommand({ UUID: f.mappingUuid }));
  const c = await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: f.name }));
  return { maxConcurrency: m.ScalingConfig!.MaximumConcurrency!, reserved: c.ReservedConcurrentExecutions ?? null };
}

describe('the operations API', () => {
  it('lists one row per splitter, processor and compactor invocation, each spanning the work it did', async () => {
    // Prepare
    const { file } = await prepareCsv(p, 'ops_usage', { records: 1500, seed: 11 });
    const job = await uploadAndWait(p, 'uploads/ops_usage/a.csv', file.bytes);
    const partitions = await p.db.sql<{ started: Date; completed: Date }[]>`
      select started_at as started, completed_at as completed from ${p.db.table('batch_partitions')} where job_id = ${job.jobId}`;
    // The last processor's row goes in after its handler returned: wait for every partition's.
    await waitFor(async () => Number((await p.db.sql`select count(*) as n from ${p.db.table('resource_usage')} where function = 'processor'`)[0]!.n) >= partitions.length, 30_000, 'processor rows');
    await waitFor(async () => Number((await p.db.sql`select count(*) as n from ${p.db.table('resource_usage')} where function = 'compactor'`)[0]!.n) > 0, 30_000, 'compactor rows');
    const [{ max_connections: maxConnections }] = await p.db.sql`show max_connections`;

    // Act
    const processor = await all(p, '/api/resource-usage?function=processor&limit=5');
    const splitter = await all(p, '/api/resource-usage?function=splitter&limit=5');
    const compactor = await call(p, 'GET', '/api/resource-usage?function=compactor&limit=1');
    const future = await call(p, 'GET', '/api/resource-usage?from=2999-01-01');

    // Assess
    expect(processor.items.length).toBeGreaterThanOrEqual(partitions.length);
    expect(processor.pages).toBe(Math.ceil(processor.items.length / 5));
    const ids = processor.items.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of [...processor.items, ...splitter.items, ...compactor.body.items]) {
      expect(r.durationMs).toBeGreaterThan(0);
      expect(r.succeeded).toBe(true);
      expect(r.maxRssMib).toBeGreaterThan(0);
      // The local functions are worker threads of this very process: their high-water mark is its.
      expect(r.maxRssMib).toBeLessThanOrEqual(process.resourceUsage().maxRSS / 1024);
      expect(r.poolCap).toBe(DEFAULTS.databasePoolSize);
      expect(r.dbConnections).toBeGreaterThanOrEqual(1);
      expect(r.maxConnections).toBe(Number(maxConnections));
    }
    expect(processor.items.every((r) => r.function === 'processor' && r.memoryMb === topology.functions.processor.memoryMb)).toBe(true);
    expect(compactor.body.items[0]).toMatchObject({ function: 'compactor', memoryMb: topology.scheduled.compactor.memoryMb });
    // Every partition's recorded processing lies inside one processor invocation (1 ms: the clocks' rounding).
    const spans = processor.items.map((r) => ({ from: new Date(r.startedAt).getTime() - 1, to: new Date(r.startedAt).getTime() + r.durationMs + 1 }));
    for (const part of partitions) {
      expect(spans.some((s) => s.from <= part.started.getTime() && part.completed.getTime() <= s.to), JSON.stringify(part)).toBe(true);
    }
    // Each worker samples the queue on its first invocation, and at most once a minute after.
    expect(processor.items.some((r) => r.queueVisible !== null && r.queueInFlight !== null)).toBe(true);
    // The upload's notification (and moto's s3:TestEvent): the run that split includes the split it timed.
    const [{ split_ms: splitMs }] = await p.db.sql`select split_ms from ${p.db.table('batch_jobs')} where job_id = ${job.jobId}`;
    expect(splitter.items.some((r) => r.durationMs >= splitMs)).toBe(true);
    expect(future.body).toEqual({ items: [], nextCursor: null });
  });

  it('summarises each function over a window as computed from the rows themselves', async () => {
    // Prepare: a past window of analytics and tuner rows, overlapping in known ways
    const base = Date.parse('2021-03-01T00:00:00Z');
    const rows: Seed[] = [];
    for (let i = 0; i < 17; i++) {
      rows.push({ fn: 'analytics', start: base + i * 700, ms: 300 + ((i * 397) % 1500), rss: 120 + ((i * 31) % 200), memory: 512, inUse: 2 + (i % 5), pool: 2, maxConnections: 100, visible: i % 4 === 0 ? i * 3 : null });
    }
    for (let i = 0; i < 5; i++) rows.push({ fn: 'tuner', start: base + i * 60_000, ms: 50 + i, rss: 90, memory: null, inUse: 1, pool: 2, maxConnections: 100, visible: null });
    // Outside the window: must not count.
    rows.push({ fn: 'analytics', start: base + 3_600_000, ms: 99_999, rss: 999, memory: 512, inUse: 99, pool: 2, maxConnections: 100, visible: 999 });
    await seed(rows);
    const inside = rows.filter((r) => r.start < base + 3_600_000);
    const expected = ['analytics', 'tuner'].map((fn) => {
      const of = inside.filter((r) => r.fn === fn);
      const ms = of.map((r) => r.ms);
      const rss = Math.max(...of.map((r) => r.rss));
      const visible = of.map((r) => r.visible).filter((v): v is number => v !== null);
      return {
        function: fn,
        invocations: of.length,
        peakConcurrency: peak(of),
        durationMs: { p50: percentile(ms, 0.5), p95: percentile(ms, 0.95), max: Math.max(...ms) },
        memory: { maxRssMib: rss, configuredMb: of[0]!.memory, share: of[0]!.memory === null ? null : rss / of[0]!.memory },
        connections: { maxInUse: Math.max(...of.map((r) => r.inUse)), poolCap: 2, maxConnections: 100 },
        queue: { maxVisible: visible.length > 0 ? Math.max(...visible) : null },
      };
    });

    // Act
    const res = await call(p, 'GET', `/api/resource-usage/summary?from=2021-03-01T00:00:00Z&to=2021-03-01T01:00:00Z`);

    // Assess
    expect(res.status).toBe(200);
    expect(res.body.functions.map((f: any) => f.function)).toEqual(['analytics', 'tuner']);
    for (const [i, e] of expected.entries()) {
      const got = res.body.functions[i];
      expect(got).toMatchObject({ function: e.function, invocations: e.invocations, failed: 0, peakConcurrency: e.peakConcurrency, connections: e.connections });
      expect(got.durationMs.p50).toBeCloseTo(e.durationMs.p50, 9);
      expect(got.durationMs.p95).toBeCloseTo(e.durationMs.p95, 9);
      expect(got.durationMs.max).toBe(e.durationMs.max);
      expect(got.memory.maxRssMib).toBe(e.memory.maxRssMib);
      expect(got.memory.configuredMb).toBe(e.memory.configuredMb);
      if (e.memory.share === null) expect(got.memory.share).toBeNull();
      else expect(got.memory.share).toBeCloseTo(e.memory.share, 12);
      expect(got.queue.maxVisible).toBe(e.queue.maxVisible);
    }
    expect(expected[0]!.peakConcurrency).toBeGreaterThan(1);
  });

  it('names the limits that bind in a window of seeded rows and none in a quiet one', async () => {
    // Prepare: processors at the cap Lambda reports, with a backlog; memory at 95%; connections low
    const settings = await processorSettings(p);
    const cap = Math.min(settings.maxConcurrency, settings.reserved ?? Number.POSITIVE_INFINITY);
    const busy = Date.parse('2021-04-01T00:00:00Z');
    const quiet = Date.parse('2021-04-02T00:00:00Z');
    const memory = topology.functions.processor.memoryMb;
    await seed([
      ...Array.from({ length: cap }, (_, i): Seed => ({ fn: 'processor', start: busy + i * 10, ms: 5_000, rss: 0.95 * memory, memory, inUse: 4, pool: 2, maxConnections: 1000, visible: 50 })),
      { fn: 'processor', start: quiet, ms: 1_000, rss: 0.3 * memory, memory, inUse: 2, pool: 2, maxConnections: 1000, visible: 0 },
    ]);

    // Act
    const bound = await call(p, 'GET', '/api/resource-usage/constraints?from=2021-04-01T00:00:00Z&to=2021-04-01T01:00:00Z');
    const calm = await call(p, 'GET', '/api/resource-usage/constraints?from=2021-04-02T00:00:00Z&to=2021-04-02T01:00:00Z');

    // Assess
    expect(bound.status, JSON.stringify(bound.body)).toBe(200);
    expect(bound.body.binding).toEqual(['reservedConcurrency', 'lambdaMemory']);
    const byLimit = Object.fromEntries(bound.body.constraints.map((c: any) => [c.limit, c]));
    expect(byLimit.reservedConcurrency).toMatchObject({ binds: true, observed: cap, cap });
    expect(byLimit.lambdaMemory).toMatchObject({ function: 'processor', binds: true, cap: memory });
    expect(byLimit.databaseConnections).toMatchObject({ binds: false, observed: 4, cap: Math.min(1000, 2 * cap) });
    // No CloudWatch datapoint in 2021: the queue's age is unknown, not a failure.
    expect(byLimit.queueAge).toMatchObject({ binds: false, observed: null });
    expect(calm.body.binding).toEqual([]);
    expect(bound.body.constraints.every((c: any) => typeof c.evidence === 'string' && c.evidence.length > 0)).toBe(true);
  });

  it("detects the tuner's bottlenecks in a past window of metrics put into CloudWatch", async () => {
    // Prepare: 15 minutes of a growing backlog, two hours ago, in whole minutes
    const end = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE) * MINUTE;
    await publishGrowingBacklog(p, end, 15);
    const from = new Date(end - 15 * MINUTE).toISOString();
    const to = new Date(end).toISOString();

    // Act
    const res = await call(p, 'GET', `/api/performance-metrics/bottlenecks?from=${from}&to=${to}`);

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const kinds = res.body.items.map((b: any) => b.kind);
    expect(kinds).toContain('queueGrowth');
    expect(kinds).toContain('ageGrowth');
    const growth = res.body.items.find((b: any) => b.kind === 'queueGrowth');
    expect(growth.evidence.values).toEqual(Array.from({ length: 15 }, (_, m) => 20 * (m + 1)));
  });

  it('recommends, applies and records the tuner’s changes, which Lambda then reports', async () => {
    // Prepare: the last 15 minutes as the tuner reads them, the current one included: the local
    // stack publishes the real queue's depth there, and the seeded backlog must stay its maximum.
    await publishGrowingBacklog(p, Math.floor(Date.now() / MINUTE) * MINUTE + MINUTE, 16);
    const before = await processorSettings(p);

    // Act
    const dry = await call(p, 'GET', '/api/tuning/recommendations');
    const unchanged = await processorSettings(p);
    const applied = await call(p, 'POST', '/api/tuning/apply');
    const after = await processorSettings(p);
    const history = await call(p, 'GET', '/api/tuning/history');
    const older = await call(p, 'GET', '/tuning/history');

    // Assess
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const concurrency = dry.body.recommendations.find((r: any) => r.parameter === 'maxConcurrency');
    expect(concurrency.currentValue).toBe(before.maxConcurrency);
    expect(concurrency.recommendedValue, concurrency.reason).toBeGreaterThan(before.maxConcurrency);
    expect(dry.body.bottlenecks.map((b: any) => b.kind)).toContain('queueGrowth');
    expect(unchanged).toEqual(before);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    const appliedConcurrency = applied.body.applied.find((r: any) => r.parameter === 'maxConcurrency');
    expect(after.maxConcurrency).toBe(appliedConcurrency.recommendedValue);
    expect(history.status).toBe(200);
    expect(history.body.items.map((h: any) => h.parameter).sort()).toEqual(applied.body.applied.map((r: any) => r.parameter).sort());
    expect(history.body.items.find((h: any) => h.parameter === 'maxConcurrency')).toMatchObject({ oldValue: before.maxConcurrency, newValue: after.maxConcurrency });
    expect(older.body).toEqual(history.body);
  });

  it('answers 400 naming the parameter, and 404 for a method the route does not take', async () => {
    // Act
    const cases = await Promise.all(
      [
        ['GET', '/api/resource-usage?function=nope'],
        ['GET', '/api/resource-usage?from=yesterday'],
        ['GET', '/api/resource-usage?limit=0'],
        ['GET', '/api/resource-usage?cursor=bogus!'],
        ['GET', '/api/resource-usage/summary?from=2024-02-01&to=2024-01-01'],
        ['GET', '/api/resource-usage/summary?from=2024-01-01&to=2024-03-01'],
        ['GET', '/api/resource-usage/constraints?to=soon'],
        ['GET', '/api/performance-metrics/bottlenecks?from=2024-01-01&to=2024-01-03'],
        ['POST', '/api/tuning/recommendations'],
        ['GET', '/api/tuning/apply'],
      ].map(([method, path]) => call(p, method!, path!)),
    );

    // Assess
    expect(cases.map((c) => c.status)).toEqual([400, 400, 400, 400, 400, 400, 400, 400, 404, 404]);
    const messages = cases.slice(0, 8).map((c) => c.body.error.split(' ')[0]);
    expect(messages).toEqual(['function', 'from', 'limit', 'cursor', 'from', 'from', 'to', 'from']);
    expect(cases.every((c) => !JSON.stringify(c.body).includes('    at '))).toBe(true);
  });
});
