import type { Command } from 'commander';
import { readJsonFile } from './jsonFile.ts';
import { print, table } from './report.ts';
import type { RunOperations } from './runner.ts';
import { CliError } from './target.ts';

type IsoDate = (flag: string) => (value: string) => Date;

/**
 * Adds `analytics put|list|delete|run` and `results` to the CLI. `analytics` was `jobs` before
 * ingestion jobs and analytics jobs got names of their own; `jobs` stays as an alias.
 */
export function addAnalyticsCommands(program: Command, run: RunOperations, isoDate: IsoDate): void {
  const jobs = program.command('analytics').alias('jobs').description('scheduled analytics jobs');

  jobs
    .command('put <file>')
    .description('create or replace an analytics job from a JSON definition')
    .action(async (file: string) => {
      const input = readJsonFile(file);
      console.log(await run((ops) => ops.putAnalyticsJob(input, file)));
    });

  jobs
    .command('list')
    .option('--json', 'print JSON')
    .description('list analytics jobs')
    .action(async (opts: { json?: boolean }) => {
      const all = await run((ops) => ops.listAnalyticsJobs());
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
      const deleted = await run((ops) => ops.deleteAnalyticsJob(name));
      if (!deleted) throw new CliError(`no analytics job named "${name}"`);
      console.log(`job "${name}" deleted`);
    });

  jobs
    .command('run <name>')
    .description('run a job as if its schedule fired at --at (default now) and print what it wrote')
    .option('--at <iso>', 'the fire time', isoDate('--at'))
    .option('--json', 'print the rows written as JSON')
    .action(async (name: string, opts: { at?: Date; json?: boolean }) => {
      const outcome = await run((ops) => ops.runAnalyticsJob(name, opts.at));
      print(!!opts.json, outcome.rows, () =>
        [
          `job "${name}": ${outcome.windows.length} window(s) ${outcome.windows.map((w) => `[${w.start.toISOString()}, ${w.end.toISOString()})`).join(' ')}, ${outcome.rows.length} rows in ${Math.round(outcome.durationMs)} ms`,
          table(outcome.rows),
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
      const rows = await run((ops) => ops.results(opts.job, opts));
      print(!!opts.json, rows, () => table(rows));
    });
}
