import { answers, ensureAwsEndpoint } from '../../localstack/services/moto.ts';
import { formatRun, runChaos, startChaosStack, suiteRuns, summaryLine, type RunResult } from './scenarios.ts';

/**
 * `npm run chaos`: the fault-injection suite against the local stack — real moto (AWS_ENDPOINT_URL,
 * or one started here) behind a fault proxy, real Postgres (DATABASE_URL) behind a relay. Each
 * fault in a run of its own, then all together; one line per run, then
 * `chaos: N/N runs exact, 0 jobs unfinished`. Exits 1 unless every run is exact and every job ended.
 */
const records = Number(process.env.CHAOS_RECORDS ?? 10_000);
// AWS_ENDPOINT_URL as given; a loopback one where nothing answers gets a moto server started on its port.
const given = process.env.AWS_ENDPOINT_URL ? new URL(process.env.AWS_ENDPOINT_URL) : undefined;
if (given && ['127.0.0.1', 'localhost'].includes(given.hostname) && !(await answers(given.origin))) delete process.env.AWS_ENDPOINT_URL;
const aws = await ensureAwsEndpoint(given ? { host: given.hostname, port: Number(given.port) } : {});
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const chaos = await startChaosStack({ endpoint: aws.endpoint, region: aws.region, databaseUrl });
const results: RunResult[] = [];
try {
  let seed = 1;
  // CHAOS_ONLY=delete-lost,all runs only those; CHAOS_EVENTS=1 prints the runtime's events (debugging aids).
  const only = process.env.CHAOS_ONLY?.split(',');
  for (const faults of suiteRuns()) {
    if (only && !only.includes(faults.length === 1 ? faults[0]! : 'all')) continue;
    const result = await runChaos(chaos, faults, { records, timeoutMs: 180_000 }, seed++);
    results.push(result);
    console.log(formatRun(result));
    for (const problem of result.problems) console.error(`    ${problem}`);
  }
} finally {
  await chaos.stop();
  await aws.stop();
}
const { line, passed } = summaryLine(results);
console.log(line);
if (process.env.CHAOS_EVENTS) console.error(chaos.events.join('\n'));
process.exit(passed ? 0 : 1);
