import { InvalidArgumentError, Option, type Command } from 'commander';
import { summarize } from '../views.ts';
import type { Recovered } from './operations.ts';
import { describeIngestJob, print } from './report.ts';
import type { RunOperations } from './runner.ts';

const id = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError(`"${value}" is not a job id`);
  return Number(value);
};
const index = (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a partition index`);
  return Number(value);
};

function report(json: boolean, { job, resent }: Recovered): void {
  print(json, { ...summarize(job), resent }, () => `${describeIngestJob(job)}\n  re-sent      ${resent} partition message(s)`);
}

/** `retry`, `stop`, `restart` and `redrive`: what ends a stuck or failed job, and what brings it back. */
export function addRecoveryCommands(program: Command, run: RunOperations): void {
  program
    .command('retry <jobId>')
    .description("re-send a job's failed partitions (or one); a completed partition is never merged twice")
    .option('--partition <n>', 'only this partition (its index)', index)
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { partition?: number; json?: boolean }) => {
      report(!!opts.json, await run((ops) => ops.retry(id(jobId), opts.partition)));
    });
  program
    .command('stop <jobId>')
    .description('stop a splitting or processing job: pending partitions are skipped; it ends stopped with the counts of what merged')
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      const job = await run((ops) => ops.stop(id(jobId)));
      print(!!opts.json, summarize(job), () => describeIngestJob(job));
    });
  program
    .command('restart <jobId>')
    .description("re-run a failed, stopped or completed_with_failures job's unfinished partitions")
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      report(!!opts.json, await run((ops) => ops.restart(id(jobId))));
    });
  program
    .command('redrive')
    .description("move a queue's dead-lettered messages back to it (StartMessageMoveTask on AWS; moved here against a local endpoint)")
    .addOption(new Option('--queue <queue>', 'which queue').choices(['ingest', 'partitions']).default('partitions'))
    .option('--json', 'print JSON')
    .action(async (opts: { queue: 'ingest' | 'partitions'; json?: boolean }) => {
      const outcome = await run((ops) => ops.redrive(opts.queue));
      print(!!opts.json, outcome, () =>
        outcome.method === 'copied'
          ? `moved ${outcome.moved} message(s) from the ${opts.queue} DLQ back to its queue`
          : `started a message move task for ~${outcome.approximateMessages} message(s) from the ${opts.queue} DLQ (task ${outcome.taskHandle})`,
      );
    });
}
