import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeIngestJob, describeRows } from '../../lib/cli/report.ts';
import { localTarget } from '../../lib/cli/target.ts';
import { jobInDatabase, uploadFile, waitForIngestJob } from '../../lib/cli/upload.ts';
import { parseDatasetDefinition } from '../../lib/datasets/definition.ts';
import { queryRollups } from '../../lib/query/queryRollups.ts';
import { clearDatasetRollups, putDataset } from '../../lib/store/datasets.ts';
import { connectDb } from '../../lib/store/db.ts';
import { localDir } from '../paths.ts';
import { salesDataset, writeSalesCsv } from './sampleData.ts';
import { localConcurrency, startLocalStack } from '../stack.ts';

/**
 * `npm run demo`: the whole pipeline on this machine with nothing set — starts the local stack
 * (moto + embedded Postgres unless AWS_ENDPOINT_URL / DATABASE_URL say otherwise), registers the
 * sample dataset, generates and uploads 1M records, waits, prints the job summary and a few rows.
 */
// Node 20 is supported locally; the SDK's notice about 2027 releases needing Node 22 is in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const records = Number(process.env.DEMO_RECORDS ?? 1_000_000);
const say = (line: string) => console.log(`[demo] ${line}`);

say('starting the local stack (the first run installs moto into .venv-moto, ~30 s)');
const stack = await startLocalStack({
  stage: 'demo',
  writeState: true,
  log: say,
  // Quiet functions: the demo prints its own summary.
  environment: { POWERTOOLS_LOG_LEVEL: 'WARN' },
  // As `npm run local`: one invocation per core of each function at a time.
  maxConcurrentInvocations: localConcurrency(),
});
const db = connectDb({ url: stack.state.databaseUrl, schema: stack.state.databaseSchema });
let failed = false;
try {
  const dataset = parseDatasetDefinition(salesDataset);
  await putDataset(db, dataset);
  // The embedded Postgres keeps its data between runs: start the demo's aggregates from zero.
  await clearDatasetRollups(db, dataset.name);
  say(`dataset "${dataset.name}": ${dataset.dimensions.join(', ')} × ${dataset.metrics.join(', ')} every ${dataset.granularity}`);

  mkdirSync(join(localDir, 'demo'), { recursive: true });
  const file = join(localDir, 'demo', `sales-${records}.csv`);
  const t = performance.now();
  const bytes = await writeSalesCsv(file, { records });
  say(`generated ${records.toLocaleString('en-US')} records (${(bytes / 1e6).toFixed(1)} MB) in ${Math.round(performance.now() - t)} ms: ${file}`);

  const target = localTarget(stack.state);
  const object = await uploadFile(db, target, file, dataset.name);
  say(`uploaded s3://${object.bucket}/${object.key}; waiting for the pipeline`);
  const job = await waitForIngestJob(jobInDatabase(db), object, { progress: true });
  console.log(`\n${describeIngestJob(job)}\n`);
  failed = !job.status.startsWith('completed') || job.status === 'completed_with_failures' || job.recordsRead !== records;

  const rows = await queryRollups(db, dataset, { granularity: '1-day', by: ['region'], metrics: ['amount'] });
  console.log('amount by region, first day (query --granularity 1-day --by region --metrics amount):');
  console.log(describeRows(rows.slice(0, 5)));
  const total = await queryRollups(db, dataset, { granularity: '1-week', by: [], metrics: ['quantity'] });
  console.log('\nquantity, whole week (query --granularity 1-week):');
  console.log(describeRows(total));
} finally {
  await db.close();
  await stack.stop();
}
process.exit(failed ? 1 : 0);
