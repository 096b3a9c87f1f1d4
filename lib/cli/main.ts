import { Command, InvalidArgumentError, Option } from 'commander';
import { DatasetDefinitionError, parseDatasetDefinition } from '../datasets/definition.ts';
import { BatchflowError } from '../errors.ts';
import { addAnalyticsCommands } from './analyticsCommands.ts';
import { describeIngestJob, describeRejects, describeRows, print, table } from './report.ts';
import { readJsonFile } from './jsonFile.ts';
import { CliError, TARGET_KINDS } from './target.ts';
import { operationsRunner, type GlobalOptions } from './runner.ts';
import { addRecoveryCommands } from './recoveryCommands.ts';
import { addTuneCommand } from './tuneCommand.ts';
import { uploadKey, waitForIngestJob } from './upload.ts';
import { summarize } from '../views.ts';

const isoDate = (flag: string) => (value: string) => {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`${flag} "${value}" is not an ISO date/time`);
  return d;
};
const list = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);
const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
};

const program = new Command('batchflow')
  .description('Batch ingestion and analytics: upload files, watch jobs, query rollups.')
  .showHelpAfterError();
const run = operationsRunner(() => program.opts<GlobalOptions>());

program
  .command('migrate')
  .description("create or update the target's schema (the local stack and the deploy do this themselves)")
  .action(async () => {
    const outcome = await run((ops) => ops.migrate(), { schema: 'any' });
    if ('deployed' in outcome) return console.log('nothing to do: a deployed stack migrates its schema itself on every deploy (its Migrate function)');
    console.log(outcome.applied.length > 0 ? `applied migration(s) ${outcome.applied.join(', ')}` : 'schema is up to date');
  });

const datasets = program.command('datasets').description('dataset definitions');
datasets
  .command('put <file>')
  .description('create or replace a dataset from a JSON definition')
  .action(async (file: string) => {
    const input = readJsonFile(file);
    let def;
    try {
      def = parseDatasetDefinition(input);
    } catch (err) {
      if (err instanceof DatasetDefinitionError) throw new CliError(`${file}: ${err.message}`);
      throw err;
    }
    const outcome = await run((ops) => ops.putDataset(def), { schema: 'migrate' });
    console.log(`dataset "${def.name}" ${outcome.created ? 'created' : 'saved'} (rollups: ${def.rollups.map((r) => `[${r.join(',')}]`).join(' ')})`);
    for (const note of outcome.newDataOnly) console.log(`  ${note}: applies to data loaded from now on`);
  });
datasets
  .command('delete <name>')
  .description('delete a dataset with its aggregates, ingestion jobs, rejects and metrics')
  .option('--force', 'also while its jobs run, and with the analytics jobs that read it')
  .action(async (name: string, opts: { force?: boolean }) => {
    const deleted = await run((ops) => ops.deleteDataset(name, !!opts.force));
    const also = deleted.analyticsJobs.length > 0 ? `, analytics job(s) ${deleted.analyticsJobs.join(', ')}` : '';
    console.log(`dataset "${name}" deleted: ${deleted.ingestJobs} ingestion job(s), ${deleted.aggregateRows} aggregate row(s)${also}`);
  });
datasets
  .command('list')
  .option('--json', 'print JSON')
  .description('list datasets')
  .action(async (opts: { json?: boolean }) => {
    const all = await run((ops) => ops.listDatasets());
    print(!!opts.json, all, () =>
      table(all.map((d) => ({ name: d.name, format: d.format, granularity: d.granularity, dimensions: d.dimensions.join(','), metrics: d.metrics.join(','), rollups: d.rollups.map((r) => `[${r.join(',')}]`).join(' ') }))),
    );
  });

program
  .command('upload <file>')
  .description('put a file under uploads/<dataset>/ in the bucket')
  .requiredOption('--dataset <name>', 'the dataset the file belongs to')
  .option('--key <key>', 'object key (default uploads/<dataset>/<timestamp>-<file name>)')
  .option('--wait', 'wait for the job, with a progress bar on stderr, and print its summary')
  .option('--json', 'print the summary as JSON')
  .action(async (file: string, opts: { dataset: string; key?: string; wait?: boolean; json?: boolean }) => {
    await run(async (ops) => {
      const object = await ops.upload(file, opts.dataset, opts.key ?? uploadKey(file, opts.dataset));
      if (!opts.wait) return print(!!opts.json, object, () => `uploaded s3://${object.bucket}/${object.key}`);
      const job = await waitForIngestJob((o) => ops.findJobOf(o), object, { progress: process.stderr.isTTY || !opts.json });
      print(!!opts.json, summarize(job), () => describeIngestJob(job));
      // Anything short of every partition merged is a failure a script should see.
      if (['failed', 'completed_with_failures', 'stopped'].includes(job.status)) process.exitCode = 1;
    });
  });

program
  .command('query')
  .description('aggregates by bucket from the rollup grouped exactly by --by')
  .requiredOption('--dataset <name>')
  .requiredOption('--granularity <g>', 'a multiple of the base granularity: 1-hour, 6-hour, 1-day, 1-week, 2-week, ...')
  .option('--by <dims>', 'comma-separated dimensions (default: the total)', list, [])
  .option('--metrics <metrics>', 'comma-separated metrics (default: all)', list)
  .option('--from <iso>', 'first bucket start (inclusive)', isoDate('--from'))
  .option('--to <iso>', 'end (exclusive)', isoDate('--to'))
  .option('--json', 'print a JSON array')
  .action(async (opts: { dataset: string; granularity: string; by: string[]; metrics?: string[]; from?: Date; to?: Date; json?: boolean }) => {
    const rows = await run((ops) => ops.query(opts.dataset, opts));
    print(!!opts.json, rows, () => describeRows(rows));
  });

program
  .command('status [jobId]')
  .description('ingestion jobs (one per uploaded object): the recent ones, or one in detail')
  .option('--json', 'print JSON')
  .option('--limit <n>', 'how many recent jobs', positiveInt, 20)
  .action(async (jobId: string | undefined, opts: { json?: boolean; limit: number }) => {
    await run(async (ops) => {
      if (jobId) {
        // The failed partitions, each with its error: what `retry` would re-send.
        const { job, failedPartitions: failed } = await ops.jobDetail(positiveInt(jobId));
        return print(!!opts.json, { ...job, failedPartitions: failed }, () =>
          [describeIngestJob(job), ...failed.map((p) => `  failed       partition ${job.jobId}-${p.idx} after ${p.attempts} attempt(s): ${p.error}`)].join('\n'),
        );
      }
      const jobs = await ops.listJobs(opts.limit);
      print(!!opts.json, jobs.map((j) => j.summary), () =>
        table(
          jobs.map(({ summary: j, dataset, key, partitionsDone }) => ({
            job: j.jobId,
            dataset,
            status: j.status,
            records: j.records,
            rejected: j.rejected,
            // Splitting: the partitions are not counted yet.
            partitions: `${partitionsDone}/${j.status === 'splitting' && j.partitions === 0 ? '?' : j.partitions}${j.partitionsFailed ? ` (${j.partitionsFailed} failed)` : ''}`,
            key,
            reason: j.reason ?? '',
          })),
        ),
      );
    });
  });

program
  .command('rejects <jobId>')
  .description("a job's rejected records: line, reason and raw text")
  .option('--limit <n>', 'at most this many', positiveInt, 100)
  .option('--json', 'print JSON')
  .action(async (jobId: string, opts: { limit: number; json?: boolean }) => {
    const rejects = await run((ops) => ops.rejects(positiveInt(jobId), opts.limit));
    print(!!opts.json, rejects, () => describeRejects(rejects));
  });

addAnalyticsCommands(program, run, isoDate);
addTuneCommand(program, run);
addRecoveryCommands(program, run);

program.addOption(
  new Option('--target <target>', 'where commands go (default: a running local stack, else BATCHFLOW_API_URL, else DATABASE_URL; or BATCHFLOW_TARGET)').choices(TARGET_KINDS),
);
program.addOption(new Option('--verbose', 'say which target is used; print stack traces'));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof BatchflowError && !program.opts().verbose) {
    console.error(`batchflow: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
}
