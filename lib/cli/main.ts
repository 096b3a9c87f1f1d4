import { Command, InvalidArgumentError, Option } from 'commander';
import { DatasetDefinitionError, parseDatasetDefinition } from '../datasets/definition.ts';
import { BatchflowError } from '../errors.ts';
import { queryRollups } from '../query/queryRollups.ts';
import { deleteDataset, getDataset, listDatasets, putDataset } from '../store/datasets.ts';
import { getIngestJob, listIngestJobs } from '../store/ingestJobs.ts';
import { listPartitions } from '../store/partitions.ts';
import { listRejects } from '../store/rejects.ts';
import { migrate } from '../store/migrate.ts';
import { summarize } from '../views.ts';
import { addAnalyticsCommands, schedulesOf } from './analyticsCommands.ts';
import { describeIngestJob, describeRejects, describeRows, print, table } from './report.ts';
import { readJsonFile } from './jsonFile.ts';
import { CliError, TARGET_KINDS } from './target.ts';
import { dbRunner, type GlobalOptions } from './withDb.ts';
import { addRecoveryCommands } from './recoveryCommands.ts';
import { addTuneCommand } from './tuneCommand.ts';
import { uploadFile, waitForIngestJob } from './upload.ts';

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
const withDb = dbRunner(() => program.opts<GlobalOptions>());

program
  .command('migrate')
  .description("create or update the target's schema (the local stack and the deploy do this themselves)")
  .action(async () => {
    const applied = await withDb((db) => migrate(db), { schema: 'any' });
    console.log(applied.length > 0 ? `applied migration(s) ${applied.join(', ')}` : 'schema is up to date');
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
    const outcome = await withDb((db) => putDataset(db, def), { schema: 'migrate' });
    console.log(`dataset "${def.name}" ${outcome.created ? 'created' : 'saved'} (rollups: ${def.rollups.map((r) => `[${r.join(',')}]`).join(' ')})`);
    for (const note of outcome.newDataOnly) console.log(`  ${note}: applies to data loaded from now on`);
  });
datasets
  .command('delete <name>')
  .description('delete a dataset with its aggregates, ingestion jobs, rejects and metrics')
  .option('--force', 'also while its jobs run, and with the analytics jobs that read it')
  .action(async (name: string, opts: { force?: boolean }) => {
    const deleted = await withDb(async (db, target) => {
      const outcome = await deleteDataset(db, name, { force: !!opts.force });
      if (outcome.refused) throw new CliError(outcome.message);
      for (const job of outcome.analyticsJobs) await schedulesOf(target)?.remove(job);
      return outcome;
    });
    const also = deleted.analyticsJobs.length > 0 ? `, analytics job(s) ${deleted.analyticsJobs.join(', ')}` : '';
    console.log(`dataset "${name}" deleted: ${deleted.ingestJobs} ingestion job(s), ${deleted.aggregateRows} aggregate row(s)${also}`);
  });
datasets
  .command('list')
  .option('--json', 'print JSON')
  .description('list datasets')
  .action(async (opts: { json?: boolean }) => {
    const all = await withDb((db) => listDatasets(db));
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
    await withDb(async (db, target) => {
      const object = await uploadFile(db, target, file, opts.dataset, opts.key);
      if (!opts.wait) return print(!!opts.json, object, () => `uploaded s3://${object.bucket}/${object.key}`);
      const job = await waitForIngestJob(db, object, { progress: process.stderr.isTTY || !opts.json });
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
    const rows = await withDb(async (db) => {
      const dataset = await getDataset(db, opts.dataset);
      if (!dataset) throw new CliError(`no dataset named "${opts.dataset}"`);
      return queryRollups(db, dataset, opts);
    });
    print(!!opts.json, rows, () => describeRows(rows));
  });

program
  .command('status [jobId]')
  .description('ingestion jobs (one per uploaded object): the recent ones, or one in detail')
  .option('--json', 'print JSON')
  .option('--limit <n>', 'how many recent jobs', positiveInt, 20)
  .action(async (jobId: string | undefined, opts: { json?: boolean; limit: number }) => {
    await withDb(async (db) => {
      if (jobId) {
        const job = await getIngestJob(db, positiveInt(jobId));
        if (!job) throw new CliError(`no job ${jobId}`);
        // The failed partitions, each with its error: what `retry` would re-send.
        const failed = job.partitionsFailed > 0 ? await listPartitions(db, job.jobId, { limit: 20, status: 'failed' }) : [];
        return print(!!opts.json, { ...job, failedPartitions: failed.map((p) => ({ idx: p.idx, attempts: p.attempts, error: p.error })) }, () =>
          [describeIngestJob(job), ...failed.map((p) => `  failed       partition ${job.jobId}-${p.idx} after ${p.attempts} attempt(s): ${p.error}`)].join('\n'),
        );
      }
      const jobs = await listIngestJobs(db, opts.limit);
      print(!!opts.json, jobs.map(summarize), () =>
        table(
          jobs.map((j) => ({
            job: j.jobId,
            dataset: j.dataset,
            status: j.status,
            records: j.recordsRead,
            rejected: j.recordsRejected,
            partitions: `${j.partitionsDone}/${j.partitionsTotal ?? '?'}${j.partitionsFailed > 0 ? ` (${j.partitionsFailed} failed)` : ''}`,
            key: j.key,
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
    const rejects = await withDb((db) => listRejects(db, positiveInt(jobId), opts.limit));
    print(!!opts.json, rejects, () => describeRejects(rejects));
  });

addAnalyticsCommands(program, withDb, isoDate);
addTuneCommand(program, withDb);
addRecoveryCommands(program, withDb);

program.addOption(new Option('--target <target>', 'where commands go (default: a running local stack, else DATABASE_URL; or BATCHFLOW_TARGET)').choices(TARGET_KINDS));
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
