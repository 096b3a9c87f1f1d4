/**
 * `npm run local`: runs batchflow on this machine until Ctrl-C (see stack.ts). A second Ctrl-C
 * stops without waiting for invocations in flight.
 */
import { topology } from '../lib/topology.ts';
import { localConcurrency, startLocalStack } from './stack.ts';

// Node 20 is supported locally; the SDK's notice about 2027 releases needing Node 22 is in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const started = Date.now();
const log = (line: string) => console.log(`[local] ${line}`);
const stack = await startLocalStack({
  stage: process.env.BATCHFLOW_STAGE ?? 'local',
  writeState: true,
  log,
  // The tuner's schedule, every minute locally; a dry run unless BATCHFLOW_TUNER_APPLY=true.
  tunerIntervalMs: 60_000,
  watchdogIntervalMs: 60_000,
  compactorIntervalMs: 60_000,
  retentionIntervalMs: 3_600_000,
  tunerApply: process.env.BATCHFLOW_TUNER_APPLY === 'true',
  // One invocation per core of each function at a time (BATCHFLOW_LOCAL_CONCURRENCY): see localConcurrency.
  maxConcurrentInvocations: localConcurrency(),
  // The read-only HTTP API, next to the AWS endpoint's 4566.
  httpApiPort: Number(process.env.BATCHFLOW_API_PORT ?? 4567),
  // BATCHFLOW_API_AUTH=sigv4: check signatures as the deployed API does (`batchflow --target api` signs).
  ...(process.env.BATCHFLOW_API_AUTH === 'sigv4' ? { httpApiAuth: 'sigv4' as const } : {}),
});
const { state } = stack;

const rows: [string, string][] = [
  ['AWS endpoint', `${state.endpoint}  (region ${state.region})`],
  ['Postgres', `${state.databaseUrl}  (schema ${state.databaseSchema})`],
  ['bucket', `s3://${state.bucket}  (ingests ${topology.bucket.uploadPrefix}<dataset>/...)`],
  ...Object.entries(state.queues).flatMap(([name, q]): [string, string][] => [
    [`${name} queue`, q.url],
    [`${name} DLQ`, q.deadLetterUrl],
  ]),
  ...Object.entries(stack.sqsPoller.stats).map(([name, s]): [string, string] => [
    'function',
    `${name}  (batchSize ${s.settings.batchSize}, maxConcurrency ${s.settings.maxConcurrency}; here at most ${localConcurrency()} at once)`,
  ]),
  ...(stack.httpApi
    ? [['HTTP API', `${stack.httpApi.url}  (/api/..., GET jobs; ${process.env.BATCHFLOW_API_AUTH === 'sigv4' ? 'SigV4 checked' : 'unsigned'}: batchflow --target api with BATCHFLOW_API_URL)`] as [string, string]]
    : []),
  ['state file', '.batchflow/local.json (where the batchflow CLI finds this stack)'],
];
console.log(`
batchflow local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${state.pid})
${rows.map(([label, value]) => `  ${label.padEnd(18)}${value}`).join('\n')}

  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url ${state.endpoint} \\
    s3 cp data.csv s3://${state.bucket}/${topology.bucket.uploadPrefix}<dataset>/data.csv
Ctrl-C to stop.
`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) {
    log(`${signal} again: exiting without draining`);
    process.exit(130);
  }
  stopping = true;
  log(`${signal}: stopping (draining invocations in flight; ${signal} again to force)`);
  await stack.stop({ drainTimeoutMs: 60_000 });
  log('stopped');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
