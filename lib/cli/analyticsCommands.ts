import type { Command } from 'commander';
import { JobDefinitionError, parseAnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import { checkAnalyticsJob } from '../definitions/definitions.ts';
import { runAnalyticsJob } from '../analytics/runAnalyticsJob.ts';
import { deleteAnalyticsJob, listAnalyticsJobs, listResults, putAnalyticsJob } from '../store/analytics.ts';
import { getDataset } from '../store/datasets.ts';
import { resultJson } from '../views.ts';
import { readJsonFile } from './jsonFile.ts';
import { print, table } from './report.ts';
import type { WithDb } from './withDb.ts';
import { CliError, type Target } from './target.ts';
import { createSchedulerClient } from '../adapters/aws.ts';
import { schedulerJobSchedules } from '../adapters/jobSchedules.ts';
import type { AnalyticsJobSchedules } from '../analytics/ports.ts';

type IsoDate = (flag: string) => (value: string) => Date;

/** A deployed stack's schedules (EventBridge Scheduler); none locally, where the runtime fires jobs. */
export function schedulesOf(target: Target): AnalyticsJobSchedules | undefined {
  if (!target.schedules) return undefined;
  return schedulerJobSchedules(createSchedulerClient(target.clients), target.schedules);
}

/**
 * Adds `analytics put|list|delete|run` and `results` to the CLI. `analytics` was `jobs` before
 * ingestion jobs and analytics jobs got names of their own; `jobs` stays as an alias.
 */
export function addAnalyticsCommands(program: Command, withDb: WithDb, isoDate: IsoDate): void {
  const jobs = program.command('analytics').alias('jobs').description('scheduled analytics jobs');

  jobs
    .command('put <file>')
    .description('create or replace an analytics job from a JSON definition')
    .action(async (file: string) => {
      const input = readJsonFile(file);
      await withDb(async (db, target) => {
        try {
          const job = parseAnalyticsJobDefinition(input);
          const { schedule, plan } = checkAnalyticsJob(job, await getDataset(db, job.dataset));
          await putAnalyticsJob(db, job);
          await schedulesOf(target)?.put(job);
          console.log(`job "${job.name}" saved: ${job.schedule} = ${schedule.cron} in ${schedule.timezone}, ${job.granularity} windows, answered from rollup [${plan.rollup.join(',')}]`);
        } catch (err) {
          if (err instanceof JobDefinitionError) throw new CliError(`${file}: ${err.message}`);
          throw err;
        }
      });
    });

  jobs
    .command('list')
    .option('--json', 'print JSON')
    .description('list analytics jobs')
    .action(async (opts: { json?: boolean }) => {
      const all = await withDb((db) => listAnalyticsJobs(db));
      print(!!opts.json, all, () =>
        table(
          all.map(({ definition: j, lastWindowEnd }) => ({
            name: j.name,
            enabled: j.enabled ? 'yes' : 'no',
            schedule: `${j.schedule}${j.timezone !== 'UTC' ? ` ${j.timezone}` : ''}`,
            dataset: j.dataset,
            entity: j.entity ?? '(total)',
            granularity: j.granularity,
            delay: `${j.delayHours}h`,
            filter: j.filter ?? '',
            computedUntil: lastWindowEnd?.toISOString() ?? '',
          })),
        ),
      );
    });

  jobs
    .command('delete <name>')
    .description('delete a job with its results')
    .action(async (name: string) => {
      const deleted = await withDb(async (db, target) => {
        await schedulesOf(target)?.remove(name);
        return deleteAnalyticsJob(db, name);
      });
      if (!deleted) throw new CliError(`no analytics job named "${name}"`);
      console.log(`job "${name}" deleted`);
    });

  jobs
    .command('run <name>')
    .description('run a job as if its schedule fired at --at (default now) and print what it wrote')
    .option('--at <iso>', 'the fire time', isoDate('--at'))
    .option('--json', 'print the rows written as JSON')
    .action(async (name: string, opts: { at?: Date; json?: boolean }) => {
      const outcome = await withDb((db) => runAnalyticsJob(db, name, opts.at ?? new Date(), 'manual'));
      print(!!opts.json, outcome.rows.map(resultJson), () =>
        [
          `job "${name}": ${outcome.windows.length} window(s) ${outcome.windows.map((w) => `[${w.start.toISOString()}, ${w.end.toISOString()})`).join(' ')}, ${outcome.rows.length} rows in ${Math.round(outcome.durationMs)} ms`,
          table(outcome.rows.map(resultJson)),
        ].join('\n'),
      );
    });

  program
    .command('results')
    .description("an analytics job's results")
    .requiredOption('--job <name>')
    .option('--from <iso>', 'first window start (inclusive)', isoDate('--from'))
    .option('--to <iso>', 'window starts before this', isoDate('--to'))
    .option('--json', 'print a JSON array')
    .action(async (opts: { job: string; from?: Date; to?: Date; json?: boolean }) => {
      const rows = await withDb((db) => listResults(db, opts.job, opts));
      print(!!opts.json, rows.map(resultJson), () => table(rows.map(resultJson)));
    });
}
