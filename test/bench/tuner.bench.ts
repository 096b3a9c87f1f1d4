/**
 * `npm run bench:tuner`: the tuner closing the loop on the local stack. The same large upload runs
 * twice on moto and the real Postgres at DATABASE_URL, with the processor mapping's maximum
 * concurrency deliberately set to 1: once left alone, once with `runTuner` applying its
 * recommendations every TICK_MS — the same code as the Tuner function, reading the metrics the
 * runtime publishes to the endpoint's CloudWatch with GetMetricData, and writing the mapping the
 * runtime reads. Only the time scale differs from AWS (2 s periods, a 6 s cooldown, age growth from
 * 5 s instead of 60): the job lasts seconds, not hours. Prints both wall times, the concurrency the
 * runtime ran at over time, and the ratio.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createCloudWatchClient, createLambdaClient } from '../../lib/adapters/aws.ts';
import { readObservation } from '../../lib/adapters/metricsReader.ts';
import { createProcessorSettings } from '../../lib/adapters/processorSettings.ts';
import { localTarget } from '../../lib/cli/target.ts';
import { jobInDatabase, uploadFile, waitForIngestJob } from '../../lib/cli/upload.ts';
import { parseDatasetDefinition } from '../../lib/datasets/definition.ts';
import { putDataset } from '../../lib/store/datasets.ts';
import { connectDb } from '../../lib/store/db.ts';
import { runTuner, type TunerContext } from '../../lib/tune/runTuner.ts';
import { localDir } from '../../localstack/paths.ts';
import { salesDataset, writeSalesCsv } from '../../localstack/demo/sampleData.ts';
import { startLocalStack } from '../../localstack/stack.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000_000);
const PARTITION_BYTES = 1024 * 1024;
const TICK_MS = 2_000;
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dataset = parseDatasetDefinition(salesDataset);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function sample(): Promise<string> {
  const dir = join(localDir, 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `sales-${RECORDS}-time.csv`);
  if (!existsSync(file)) await writeSalesCsv(file, { records: RECORDS, products: 50, days: 30, order: 'time' });
  return file;
}

/** One upload of `file` at a starting concurrency of 1, with or without the tuner. */
async function run(file: string, tuned: boolean): Promise<{ ms: number; timeline: string[]; applied: string[] }> {
  const id = randomBytes(3).toString('hex');
  const schema = `bench_tuner_${id}`;
  const stack = await startLocalStack({
    stage: `bench-tuner-${id}`,
    databaseUrl,
    databaseSchema: schema,
    metricsIntervalMs: 1_000,
    environment: { POWERTOOLS_LOG_LEVEL: 'ERROR', PARTITION_BYTES: String(PARTITION_BYTES) },
  });
  const db = connectDb({ url: databaseUrl, schema, max: 2 });
  const clients = { endpoint: stack.state.endpoint, region: stack.state.region };
  const processor = stack.provisioned.functions.processor;
  const levers = createProcessorSettings(createLambdaClient(clients), { functionName: processor.name, queueArn: stack.provisioned.queues.partitions.arn, mappingUuid: processor.mappingUuid });
  const cloudWatch = createCloudWatchClient(clients);
  const names = { partitionQueue: stack.provisioned.queues.partitions.name, processor: processor.name, splitter: stack.provisioned.functions.splitter.name };
  const ctx: TunerContext = {
    db,
    processor: levers,
    observe: (window) => readObservation(cloudWatch, names, window),
    defaultPartitionBytes: PARTITION_BYTES,
    windowSeconds: 20,
    periodSeconds: 2,
    law: { policy: { cooldownSeconds: 6 }, thresholds: { ageGrowthSeconds: 5 }, bounds: { maxConcurrency: 8 } },
  };
  const timeline: string[] = [];
  const applied: string[] = [];
  try {
    await putDataset(db, dataset);
    await levers.apply({ maxConcurrency: 1 });
    while (stack.sqsPoller.stats[processor.name].settings.maxConcurrency !== 1) await sleep(200);
    const target = localTarget(stack.state);
    const started = performance.now();
    const object = await uploadFile(db, target, file, dataset.name);
    let done = false;
    const loop = (async () => {
      while (!done) {
        await sleep(TICK_MS);
        const s = stack.sqsPoller.stats[processor.name];
        timeline.push(`${((performance.now() - started) / 1000).toFixed(0)}s:${s.settings.maxConcurrency}/${s.settings.batchSize}`);
        if (!tuned || done) continue;
        const result = await runTuner(ctx, { apply: true, now: new Date() });
        for (const r of result.applied) applied.push(`${((performance.now() - started) / 1000).toFixed(0)}s ${r.parameter} ${r.currentValue}→${r.recommendedValue}: ${r.reason}`);
      }
    })();
    const job = await waitForIngestJob(jobInDatabase(db), object, { progress: false });
    const ms = performance.now() - started;
    done = true;
    await loop;
    if (job.status !== 'completed' || job.recordsRead !== RECORDS) throw new Error(`job ${job.jobId} ${job.status}: ${job.recordsRead} of ${RECORDS} records`);
    return { ms, timeline, applied };
  } finally {
    await stack.stop();
    await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
    await db.close();
  }
}

const file = await sample();
console.log(`input: ${fmt(RECORDS)} records, partitions of ${PARTITION_BYTES / 2 ** 20} MiB, processor maximum concurrency set to 1 before the upload`);
const fixed = await run(file, false);
console.log(`without the tuner: ${(fixed.ms / 1000).toFixed(1)} s  (concurrency/batch over time: ${fixed.timeline.join(' ')})`);
const tuned = await run(file, true);
console.log(`with the tuner   : ${(tuned.ms / 1000).toFixed(1)} s  (concurrency/batch over time: ${tuned.timeline.join(' ')})`);
for (const line of tuned.applied) console.log(`  applied ${line}`);
console.log(`speed-up with the tuner: ${(fixed.ms / tuned.ms).toFixed(2)}`);
process.exit(0);
