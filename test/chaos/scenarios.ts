import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createS3Client, createSqsClient } from '../../lib/adapters/aws.ts';
import { parseDatasetDefinition, type DatasetDefinition } from '../../lib/datasets/definition.ts';
import { putDataset } from '../../lib/store/datasets.ts';
import { connectDb, type Db } from '../../lib/store/db.ts';
import { prng } from '../../localstack/demo/sampleData.ts';
import { startLocalStack, type LocalStack } from '../../localstack/stack.ts';
import { queueDepth } from '../integration/localstack/support.ts';
import { parse } from 'csv-parse/sync';
import { compareQueries, readCsvIndependently } from '../integration/pipeline/expected.ts';
import { generateCsv, type FlatRecord } from '../integration/pipeline/records.ts';
import { salesCsv } from '../support/sales.ts';
import { startFaultProxy, type FaultProxy, type Faults, type Injected } from './faultProxy.ts';
import { startPostgresRelay, type PostgresRelay } from './postgresRelay.ts';

/**
 * The fault-injection suite's scenarios, shared by `npm run chaos` (test/chaos/chaos.ts) and its
 * shorter variant in `npm test` (test/integration/chaos/chaos.test.ts). One local stack — the
 * real handlers in the local runtime, real moto behind a fault proxy, real Postgres behind a
 * relay — and per run a dataset of its own, a multi-partition CSV upload, one fault (or all of
 * them), and a comparison of every rollup with an independent computation over the same input.
 */

/** Small partitions, so a few hundred KB make tens of them (≥ 2 × MAX_RECORD_BYTES + 1). */
export const PARTITION_BYTES = 8192;
const MAX_RECORD_BYTES = 2048;
/** Short, so a message whose invocation died is back in seconds (the topology's is 30 minutes). */
const PARTITION_VISIBILITY_SECONDS = 3;
const INGEST_VISIBILITY_SECONDS = 3;
/** Job states that end a job (the status column's final values, present and planned). */
export const ENDED = new Set(['completed', 'completed_with_rejects', 'completed_with_failures', 'failed', 'stopped']);

/** The faults, each run on its own, then all together. */
export const FAULT_NAMES = [
  'duplicate-deliveries',
  'processor-killed',
  'delete-lost',
  'visibility-expired',
  'postgres-restart',
  'range-read-errors',
  'splitter-killed',
  'object-overwritten',
  'poison-records',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

const DESCRIPTIONS: Record<FaultName, string> = {
  'duplicate-deliveries': '20% of partition messages sent twice',
  'processor-killed': 'processor workers killed mid-partition',
  'delete-lost': 'deletes after COMMIT lost (worker died before DeleteMessage)',
  'visibility-expired': 'visibility timeout expires mid-partition (slow reads, copies run concurrently)',
  'postgres-restart': 'Postgres restarted mid-run (backends terminated, connections refused 2 s)',
  'range-read-errors': '5% of S3 range reads answered 503 or reset',
  'splitter-killed': 'splitter killed mid-send',
  'object-overwritten': 'object overwritten mid-job',
  'poison-records': 'poison records (NUL dimension, lone surrogate, 1e308, year 0000) in ~1% of partitions',
};

export interface ChaosEnvironment {
  /** The real AWS endpoint (moto). */
  readonly endpoint: string;
  readonly region: string;
  /** A real Postgres (pg_terminate_backend is used). */
  readonly databaseUrl: string;
}

export interface ChaosStack {
  readonly stack: LocalStack;
  readonly proxy: FaultProxy;
  readonly relay: PostgresRelay;
  /** Direct connections (not through the relay): the harness's reads and the terminations. */
  readonly db: Db;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  /** The runtime's notable events (failed invocations, failed deletes), newest last. */
  readonly events: string[];
  stop(): Promise<void>;
}

/** Starts the stack with the proxy and the relay in front of moto and Postgres. */
export async function startChaosStack(env: ChaosEnvironment): Promise<ChaosStack> {
  const suffix = randomBytes(3).toString('hex');
  const stage = `chaos-${suffix}`;
  const schema = `chaos_${suffix}`;
  let partitionsQueueName: string | undefined;
  const proxy = await startFaultProxy({ upstream: env.endpoint, partitionsQueueName: () => partitionsQueueName });
  const relay = await startPostgresRelay(env.databaseUrl);
  const events: string[] = [];
  const stack = await startLocalStack({
    stage,
    endpoint: proxy.endpoint,
    databaseUrl: relay.url,
    databaseSchema: schema,
    queueOverrides: {
      // More receives than the topology's 5 before the DLQ: a run that combines every fault can
      // redeliver one message more often than that, and the DLQ is not what is tested here.
      partitions: { visibilityTimeoutSeconds: PARTITION_VISIBILITY_SECONDS, maxReceiveCount: 20 },
      ingest: { visibilityTimeoutSeconds: INGEST_VISIBILITY_SECONDS, maxReceiveCount: 20 },
    },
    metricsIntervalMs: 0,
    environment: {
      PARTITION_BYTES: String(PARTITION_BYTES),
      MAX_RECORD_BYTES: String(MAX_RECORD_BYTES),
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    log: (line) => events.push(`${new Date().toISOString()} ${line}`),
  });
  partitionsQueueName = stack.provisioned.queues.partitions.name;
  const db = connectDb({ url: env.databaseUrl, schema, max: 4 });
  const s3 = createS3Client({ endpoint: env.endpoint, region: env.region });
  const sqs = createSqsClient({ endpoint: env.endpoint, region: env.region });
  return {
    stack,
    proxy,
    relay,
    db,
    s3,
    sqs,
    events,
    async stop() {
      proxy.setFaults({});
      await stack.stop({ drainTimeoutMs: 10_000 });
      await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
      await db.close();
      s3.destroy();
      sqs.destroy();
      await relay.close();
      await proxy.close();
    },
  };
}

/** One run's input size and patience. */
export interface RunSize {
  /** Good records per uploaded file (about 45 bytes each: 1,500 make ~12 partitions of 8 KiB). */
  readonly records: number;
  /** How long the run's jobs may take to end. */
  readonly timeoutMs: number;
}

export interface RunResult {
  readonly label: string;
  readonly jobs: readonly { readonly jobId: number; readonly status: string }[];
  readonly jobsExpected: number;
  readonly jobsUnfinished: number;
  readonly partitions: number;
  readonly recordsRead: number;
  readonly recordsAggregated: number;
  readonly recordsRejected: number;
  readonly exact: boolean;
  /** Why not exact (the first differences), empty when exact. */
  readonly problems: readonly string[];
  readonly injected: string;
  readonly seconds: number;
}

interface Job {
  jobId: number;
  status: string;
  partitionsTotal: number | null;
  partitionsDone: number;
  recordsRead: number;
  recordsAggregated: number;
  recordsRejected: number;
  reason: string | null;
}

async function jobsOf(h: ChaosStack, dataset: string): Promise<Job[]> {
  return h.db.sql<Job[]>`
    select job_id as "jobId", status, partitions_total as "partitionsTotal", partitions_done as "partitionsDone",
      records_read as "recordsRead", records_aggregated as "recordsAggregated", records_rejected as "recordsRejected", reason
    from ${h.db.table('batch_jobs')} where dataset = ${dataset} order by job_id`;
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Poison records, as README's "Limits of a record" rejects them (each once failed its whole
 * partition on every retry): NUL in a dimension, a metric beyond ±1e135, year 0000. A lone
 * surrogate cannot be written in UTF-8 CSV (its bytes decode as U+FFFD): it is NDJSON's
 * `"\ud800"`, in the NDJSON upload of the poison runs (makeNdjsonUpload).
 */
const POISON_LINES = [
  '2024-03-05T10:00:00Z,no\u0000rth,,Widget,1.00,1',
  '2024-03-05T10:00:00Z,north,,Widget,1e308,1',
  '0000-03-05T10:00:00Z,north,,Widget,1.00,1',
];

/**
 * The upload of a run: a generated CSV (records.ts), optionally with `poisonGroups` groups of the
 * poison lines spread evenly through it; and the independent reading of it — csv-parse and plain
 * arithmetic (expected.ts) over the file without the poison lines, which are rejects by the limits.
 */
function makeUpload(records: number, seed: number, poisonGroups = 0): { bytes: Buffer; good: FlatRecord[]; rejected: number; poisonGroups: number } {
  const header = 'ts,region,note,product,amount,quantity\r\n';
  const pieces = Array.from({ length: poisonGroups + 1 }, (_, i) => {
    const bytes = generateCsv({ records: Math.floor(records / (poisonGroups + 1)), seed: seed * 100 + i, badRows: 3, bom: i === 0 }).bytes;
    return i === 0 ? bytes : bytes.subarray(Buffer.byteLength(header));
  });
  const clean = Buffer.concat(pieces);
  const poison = Buffer.from(POISON_LINES.map((l) => `${l}\r\n`).join(''));
  const bytes = Buffer.concat(pieces.flatMap((p, i) => (i < pieces.length - 1 ? [p, poison] : [p])));
  const independent = readCsvIndependently(clean, def('x'));
  return { bytes, good: independent.good, rejected: independent.rejected + poisonGroups * POISON_LINES.length, poisonGroups };
}

/**
 * The records of a CSV upload (no poison) that start inside the given byte ranges, read
 * independently: a record belongs to the partition whose nominal range holds its first byte (the
 * processors move both ends of a range to the next record start). Record starts come from
 * csv-parse (`info.bytes`: where each record ends, its line end included).
 */
function recordsInRanges(bytes: Buffer, ranges: readonly { start: number; end: number }[]): { good: FlatRecord[]; rejected: number } {
  const rows = parse(bytes, { bom: true, relax_column_count: true, skip_empty_lines: true, info: true }) as unknown as { info: { bytes: number } }[];
  const ends = rows.map((r) => r.info.bytes);
  const pieces = [bytes.subarray(0, ends[0])];
  let poison = 0;
  for (let i = 1; i < ends.length; i++) {
    const start = ends[i - 1]!;
    if (!ranges.some((r) => start >= r.start && start < r.end)) continue;
    const piece = bytes.subarray(start, ends[i]);
    // Poison lines are rejects by the limits, whatever csv-parse makes of them.
    if (POISON_LINES.includes(piece.toString('utf8').replace(/\r\n$/, ''))) poison++;
    else pieces.push(piece);
  }
  const independent = readCsvIndependently(Buffer.concat(pieces), def('x'));
  return { good: independent.good, rejected: independent.rejected + poison };
}

const NDJSON_POISON = [
  { ts: '2024-03-05T10:00:00Z', region: 'no\u0000rth', product: 'Widget', amount: 1, quantity: 1 },
  // JSON.stringify writes a lone surrogate as the escape `"\ud800"`, as an exporter would.
  { ts: '2024-03-05T10:00:00Z', region: '\ud800', product: 'Widget', amount: 1, quantity: 1 },
  { ts: '2024-03-05T10:00:00Z', region: 'north', product: 'Widget', amount: 1e308, quantity: 1 },
  { ts: '0000-03-05T10:00:00Z', region: 'north', product: 'Widget', amount: 1, quantity: 1 },
];

/**
 * An NDJSON upload (objects with an ISO `ts`, `region`, `product`, `amount` with cents or null,
 * an integer `quantity`) with the four poison records in `poisonGroups` places spread through it;
 * read independently with JSON.parse, the poison records being rejects by the limits.
 */
function makeNdjsonUpload(records: number, seed: number, poisonGroups: number): { bytes: Buffer; good: FlatRecord[]; rejected: number } {
  const random = prng(seed);
  const lines: string[] = [];
  const every = Math.floor(records / (poisonGroups + 1));
  for (let i = 0; i < records; i++) {
    if (i > 0 && i % every === 0 && i / every <= poisonGroups) lines.push(...NDJSON_POISON.map((r) => JSON.stringify(r)));
    const timeMs = Date.UTC(2024, 2, 1) + Math.floor(random() * 14 * 86_400_000);
    lines.push(
      JSON.stringify({
        ts: new Date(timeMs).toISOString(),
        region: ['north', 'south', 'east', 'Zürich "HQ"'][Math.floor(random() * 4)],
        product: ['Widget', 'Gadget, large'][Math.floor(random() * 2)],
        amount: random() < 0.05 ? null : Math.round(random() * 100_000) / 100,
        quantity: 1 + Math.floor(random() * 20),
      }),
    );
  }
  const good: FlatRecord[] = [];
  let rejected = 0;
  for (const line of lines) {
    const r = JSON.parse(line) as { ts: string; region: string; product: string; amount: number | null; quantity: number };
    const poisoned = /[\u0000]/.test(r.region) || /[\ud800-\udfff]/.test(r.region) || Math.abs(r.amount ?? 0) > 1e135 || r.ts.startsWith('0000');
    if (poisoned) rejected++;
    else good.push({ timeMs: Date.parse(r.ts), dims: { region: r.region, product: r.product }, metrics: { amount: r.amount ?? undefined, quantity: r.quantity } });
  }
  return { bytes: Buffer.from(lines.map((l) => `${l}\n`).join('')), good, rejected };
}

function def(name: string): DatasetDefinition {
  return parseDatasetDefinition(salesCsv(name));
}

/** What a run injects, by fault: the proxy's faults and the harness's own actions. */
interface Plan {
  readonly faults: Faults;
  readonly processorKills: boolean;
  readonly postgresRestart: boolean;
  readonly splitterKill: boolean;
  readonly overwrite: boolean;
  readonly poison: boolean;
}

function planOf(faults: readonly FaultName[]): Plan {
  const has = (f: FaultName) => faults.includes(f);
  return {
    faults: {
      ...(has('duplicate-deliveries') ? { duplicateSendRate: 0.2 } : {}),
      ...(has('delete-lost') ? { lostDeleteRate: 0.3 } : {}),
      ...(has('range-read-errors') ? { rangeReadFaultRate: 0.05 } : {}),
      // Slow reads: past the visibility timeout for `visibility-expired`; otherwise long enough
      // that a kill or an overwrite lands while partitions are still being processed.
      ...(has('visibility-expired')
        ? { rangeReadDelayMs: 1000 }
        : has('processor-killed') || has('object-overwritten')
          ? { rangeReadDelayMs: 150 }
          : {}),
    },
    processorKills: has('processor-killed'),
    postgresRestart: has('postgres-restart'),
    splitterKill: has('splitter-killed'),
    overwrite: has('object-overwritten'),
    poison: has('poison-records'),
  };
}

/** The label of a run: the fault's description, or `all faults together`. */
export function runLabel(faults: readonly FaultName[]): string {
  return faults.length === 1 ? `${faults[0]} (${DESCRIPTIONS[faults[0]!]})` : 'all faults together';
}

/**
 * One run: uploads a multi-partition file to a dataset of the run's own while injecting
 * `faults`, waits for every job to end and the partitions queue to drain (copies included), and
 * compares every rollup at every granularity with the independent computation.
 */
export async function runChaos(h: ChaosStack, faults: readonly FaultName[], size: RunSize, seed: number): Promise<RunResult> {
  const started = performance.now();
  const plan = planOf(faults);
  const dataset = `chaos_${faults.length === 1 ? faults[0]!.replaceAll('-', '_') : 'all'}_${randomBytes(2).toString('hex')}`;
  const definition = def(dataset);
  await putDataset(h.db, definition);
  const key = `uploads/${dataset}/chaos.csv`;
  // About 1% of the partitions carry poison: one group of poison lines per 100 partitions, at least one.
  const poisonGroups = plan.poison ? Math.max(1, Math.round(makeUpload(size.records, seed).bytes.length / PARTITION_BYTES / 100)) : 0;
  const first = makeUpload(size.records, seed, poisonGroups);
  const second = plan.overwrite ? makeUpload(Math.floor(size.records / 2), seed + 1) : undefined;
  // Poison runs also upload NDJSON, where a lone surrogate can be written (`"\ud800"`).
  const side = plan.poison
    ? {
        dataset: `${dataset}_nd`,
        definition: parseDatasetDefinition({ ...salesCsv(`${dataset}_nd`), format: 'ndjson' }),
        upload: makeNdjsonUpload(Math.floor(size.records / 2), seed + 2, poisonGroups),
      }
    : undefined;
  if (side) await putDataset(h.db, side.definition);
  const processorName = h.stack.provisioned.functions.processor.name;
  const splitterName = h.stack.provisioned.functions.splitter.name;
  const random = prng(seed);
  const actions: string[] = [];

  let killedSplitterAt: number | undefined;
  const invocationsBefore = invocations(h);
  const eventsBefore = h.events.length;
  h.proxy.setFaults({
    ...plan.faults,
    random: prng(seed * 7919),
    ...(plan.splitterKill
      ? {
          onPartitionSend: (call) => {
            // The first send goes through; at the second the splitter dies (its sends in flight die with it).
            if (killedSplitterAt === undefined && call === 2) {
              killedSplitterAt = Date.now();
              actions.push(h.stack.sqsPoller.killBusyWorker(splitterName) ? 'splitter killed at send 2' : 'splitter not busy at send 2');
              return 'reset';
            }
            return killedSplitterAt !== undefined && Date.now() - killedSplitterAt < 300 ? 'reset' : 'forward';
          },
        }
      : {}),
  });

  await h.s3.send(new PutObjectCommand({ Bucket: h.stack.state.bucket, Key: key, Body: first.bytes }));
  if (side) await h.s3.send(new PutObjectCommand({ Bucket: h.stack.state.bucket, Key: `uploads/${side.dataset}/chaos.ndjson`, Body: side.upload.bytes }));
  const deadline = Date.now() + size.timeoutMs;
  const remaining = () => Math.max(0, deadline - Date.now());

  // The harness's own faults, once the first job is processing.
  const processing = await until(async () => {
    const [job] = await jobsOf(h, dataset);
    return job?.partitionsTotal ? job : undefined;
  }, remaining());
  if (processing) {
    const tasks: Promise<void>[] = [];
    if (plan.processorKills) {
      tasks.push(
        (async () => {
          let kills = 0;
          for (let tries = 0; kills < 3 && tries < 200 && remaining() > 0; tries++) {
            await sleep(100 + 150 * random());
            if (ENDED.has((await jobsOf(h, dataset))[0]!.status)) break;
            if (h.stack.sqsPoller.killBusyWorker(processorName)) kills++;
          }
          actions.push(`${kills} processor workers killed`);
        })(),
      );
    }
    if (plan.postgresRestart) {
      tasks.push(
        (async () => {
          await until(async () => {
            const [job] = await jobsOf(h, dataset);
            return job!.partitionsDone >= 1 || ENDED.has(job!.status) ? true : undefined;
          }, remaining(), 20);
          const { terminated, inTransaction } = await h.relay.restart(h.db.sql, { refuseMs: 2000, inTransaction: true });
          actions.push(`${terminated} backends terminated (${inTransaction} inside a transaction)`);
        })(),
      );
    }
    if (plan.overwrite && second) {
      tasks.push(
        (async () => {
          // Half way through: some partitions merged, others still to read.
          await until(async () => {
            const [job] = await jobsOf(h, dataset);
            return job!.partitionsDone >= Math.ceil(job!.partitionsTotal! / 2) || ENDED.has(job!.status) ? true : undefined;
          }, remaining(), 20);
          const [before] = await jobsOf(h, dataset);
          await h.s3.send(new PutObjectCommand({ Bucket: h.stack.state.bucket, Key: key, Body: second.bytes }));
          actions.push(`overwritten after ${before!.partitionsDone}/${before!.partitionsTotal} partitions`);
        })(),
      );
    }
    await Promise.all(tasks);
  }

  const expectedJobs = plan.overwrite ? 2 : 1;
  const ended = await until(async () => {
    const jobs = [...(await jobsOf(h, dataset)), ...(side ? await jobsOf(h, side.dataset) : [])];
    return jobs.length >= expectedJobs + (side ? 1 : 0) && jobs.every((j) => ENDED.has(j.status)) ? true : undefined;
  }, remaining());
  // Copies still queued (duplicates, lost deletes) must change nothing once handled.
  await until(async () => ((await queueDepth(h.sqs, h.stack.state.queues.partitions.url)) === 0 ? true : undefined), Math.min(remaining(), 30_000), 250);
  const injected = { ...h.proxy.injected };
  h.proxy.setFaults({});
  const invocationsAfter = invocations(h);
  actions.push(
    `${invocationsAfter.processor - invocationsBefore.processor} processor invocations (${invocationsAfter.processorFailed - invocationsBefore.processorFailed} failed), ` +
      `${invocationsAfter.splitter - invocationsBefore.splitter} splitter`,
  );
  // A worker the harness did not kill that died anyway: postgres.js writing to a closed socket.
  const crashed = h.events.slice(eventsBefore).filter((e) => e.includes('worker crashed')).length;
  if (crashed > 0) actions.push(`${crashed} workers crashed by themselves`);

  const jobs = await jobsOf(h, dataset);
  // What the jobs should have merged: the first file, and the overwriting one, each exactly once —
  // except that a first job whose partitions failed by the overwrite ("changed (or was deleted)
  // during processing": moto's events carry no versionId, so the job pins the ETag) merged only the
  // partitions it completed: then the records starting in those partitions' byte ranges.
  let expectedFirst: { good: FlatRecord[]; rejected: number } = first;
  const [firstJob] = jobs;
  const endedByOverwrite = firstJob?.status === 'failed' || firstJob?.status === 'completed_with_failures';
  if (plan.overwrite && endedByOverwrite && /changed \(or was deleted\) during processing/.test(firstJob.reason ?? '')) {
    const completed = await h.db.sql<{ start: number; end: number }[]>`
      select range_start as start, range_end as end from ${h.db.table('batch_partitions')}
      where job_id = ${firstJob.jobId} and status = 'completed' order by idx`;
    expectedFirst = recordsInRanges(first.bytes, completed);
    actions.push(`first job ${firstJob.status} (${completed.length}/${firstJob.partitionsTotal} partitions merged, the rest "changed during processing")`);
  }
  const checks = [
    await check(h, definition, jobs, expectedJobs, {
      good: [...expectedFirst.good, ...(second?.good ?? [])],
      rejected: expectedFirst.rejected + (second?.rejected ?? 0),
      failedExpected: expectedFirst !== first,
    }),
    ...(side ? [await check(h, side.definition, await jobsOf(h, side.dataset), 1, { ...side.upload, failedExpected: false })] : []),
  ];
  const all = checks.flatMap((c) => c.jobs);
  const problems = [...(ended ? [] : ['jobs not ended within the run\'s time']), ...checks.flatMap((c) => c.problems)];
  const sum = (f: (c: Checked) => number) => checks.reduce((total, c) => total + f(c), 0);
  return {
    label: runLabel(faults),
    jobs: all.map((j) => ({ jobId: j.jobId, status: j.status })),
    jobsExpected: sum((c) => c.jobsExpected),
    jobsUnfinished: sum((c) => c.jobsUnfinished),
    partitions: all.reduce((total, j) => total + (j.partitionsTotal ?? 0), 0),
    recordsRead: sum((c) => c.read),
    recordsAggregated: sum((c) => c.aggregated),
    recordsRejected: sum((c) => c.rejected),
    exact: problems.length === 0,
    problems: problems.slice(0, 5),
    injected: [describeInjected(injected), ...actions].filter(Boolean).join(', ') || 'nothing injected',
    seconds: (performance.now() - started) / 1000,
  };
}

interface Checked {
  jobs: Job[];
  jobsExpected: number;
  jobsUnfinished: number;
  read: number;
  aggregated: number;
  rejected: number;
  problems: string[];
}

/**
 * One dataset's jobs against its expectation: every job ended (none failed unless expected),
 * aggregated and rejected counts as computed independently, read = aggregated + rejected, and
 * every rollup at every granularity equal to the independent computation over `expected.good`.
 */
async function check(
  h: ChaosStack,
  definition: DatasetDefinition,
  jobs: Job[],
  expectedJobs: number,
  expected: { good: FlatRecord[]; rejected: number; failedExpected: boolean },
): Promise<Checked> {
  const problems: string[] = [];
  const unfinished = jobs.filter((j) => !ENDED.has(j.status));
  const jobsExpected = Math.max(expectedJobs, jobs.length);
  if (unfinished.length > 0 || jobs.length < expectedJobs) {
    problems.push(`${definition.name}: jobs not ended: ${unfinished.map((j) => `${j.jobId} ${j.status} ${j.partitionsDone}/${j.partitionsTotal}`).join(', ')} (${jobs.length}/${expectedJobs} opened)`);
  }
  for (const j of jobs) {
    if ((j.status === 'failed' || j.status === 'completed_with_failures' || j.status === 'stopped') && !expected.failedExpected) problems.push(`job ${j.jobId} ${j.status}: ${j.reason}`);
  }
  const sum = (f: (j: Job) => number) => jobs.reduce((s, j) => s + f(j), 0);
  const read = sum((j) => j.recordsRead);
  const aggregated = sum((j) => j.recordsAggregated);
  const rejected = sum((j) => j.recordsRejected);
  if (aggregated !== expected.good.length) problems.push(`${definition.name}: records aggregated ${aggregated} ≠ ${expected.good.length}`);
  if (rejected !== expected.rejected) problems.push(`${definition.name}: records rejected ${rejected} ≠ ${expected.rejected}`);
  if (read !== aggregated + rejected) problems.push(`${definition.name}: records read ${read} ≠ aggregated + rejected`);
  const compared = await compareQueries(h.db, definition, expected.good, definition.rollups);
  problems.push(...compared.problems.map((p) => `${definition.name}: ${p}`));
  if (compared.rows === 0) problems.push(`${definition.name}: no rollup rows`);
  return { jobs, jobsExpected, jobsUnfinished: jobsExpected - jobs.filter((j) => ENDED.has(j.status)).length, read, aggregated, rejected, problems };
}

/** The local runtime's invocation counters, to show redeliveries and failed invocations. */
function invocations(h: ChaosStack): { processor: number; processorFailed: number; splitter: number } {
  const stats = h.stack.sqsPoller.stats;
  const processor = stats[h.stack.provisioned.functions.processor.name]!;
  return {
    processor: processor.invocations,
    processorFailed: processor.failedRecords,
    splitter: stats[h.stack.provisioned.functions.splitter.name]!.invocations,
  };
}

function describeInjected(i: Injected): string {
  return [
    i.duplicatedMessages && `${i.duplicatedMessages} messages sent twice`,
    i.lostDeletes && `${i.lostDeletes} deletes lost`,
    (i.rangeRead503s || i.rangeReadResets) && `${i.rangeRead503s} range reads 503, ${i.rangeReadResets} reset (of ${i.rangeReads})`,
    i.droppedSends && `${i.droppedSends} sends dropped`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** The runs of the suite: each fault alone, then all together. */
export function suiteRuns(): FaultName[][] {
  return [...FAULT_NAMES.map((f) => [f]), [...FAULT_NAMES]];
}

/** One line per run: the fault, the jobs, the records, exact or not (the differences are in `problems`). */
export function formatRun(r: RunResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const statuses = r.jobs.map((j) => j.status).join('+') || 'none';
  return (
    `${r.label}: jobs ${r.jobsExpected - r.jobsUnfinished}/${r.jobsExpected} ended (${statuses}), ` +
    `${r.partitions} partitions, records ${n(r.recordsRead)} read = ${n(r.recordsAggregated)} aggregated + ${n(r.recordsRejected)} rejected, ` +
    `rollups ${r.exact ? 'exact' : 'inexact'} [${r.injected}] ${r.seconds.toFixed(1)} s`
  );
}

/** The suite's last line, and whether it passed. */
export function summaryLine(results: readonly RunResult[]): { line: string; passed: boolean } {
  const exact = results.filter((r) => r.exact).length;
  const unfinished = results.reduce((s, r) => s + r.jobsUnfinished, 0);
  return { line: `chaos: ${exact}/${results.length} runs exact, ${unfinished} jobs unfinished`, passed: exact === results.length && unfinished === 0 };
}
