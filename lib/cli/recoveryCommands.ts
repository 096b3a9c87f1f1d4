import { InvalidArgumentError, Option, type Command } from 'commander';
import { createSqsClient } from '../adapters/aws.ts';
import { redriveDeadLetters } from '../adapters/deadLetters.ts';
import { sqsPartitionQueue } from '../adapters/partitionQueue.ts';
import { RecoveryRefused, restartIngestJob, retryPartitions, stopIngestJob, type Recovered } from '../recovery/recovery.ts';
import { summarize } from '../views.ts';
import { describeIngestJob, print } from './report.ts';
import type { WithDb } from './withDb.ts';
import { CliError, type Target } from './target.ts';

const id = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError(`"${value}" is not a job id`);
  return Number(value);
};
const index = (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a partition index`);
  return Number(value);
};

function queueUrl(target: Target, queue: 'ingest' | 'partitions'): string {
  const url = target.queues[queue];
  if (!url) throw new CliError(`set BATCHFLOW_${queue === 'ingest' ? 'INGEST' : 'PARTITION'}_QUEUE_URL (a stack output) to reach the ${queue} queue`);
  return url;
}

/** A refused step is the user's to fix: its message, no stack trace. */
async function refusedAsCliError<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof RecoveryRefused) throw new CliError(err.message);
    throw err;
  }
}

function report(json: boolean, { job, resent }: Recovered): void {
  print(json, { ...summarize(job), resent }, () => `${describeIngestJob(job)}\n  re-sent      ${resent} partition message(s)`);
}

/** `retry`, `stop`, `restart` and `redrive`: what ends a stuck or failed job, and what brings it back. */
export function addRecoveryCommands(program: Command, withDb: WithDb): void {
  program
    .command('retry <jobId>')
    .description("re-send a job's failed partitions (or one); a completed partition is never merged twice")
    .option('--partition <n>', 'only this partition (its index)', index)
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { partition?: number; json?: boolean }) => {
      await withDb(async (db, target) => {
        const queue = sqsPartitionQueue(createSqsClient(target.clients), queueUrl(target, 'partitions'));
        report(!!opts.json, await refusedAsCliError(() => retryPartitions({ db, queue }, id(jobId), opts.partition)));
      });
    });
  program
    .command('stop <jobId>')
    .description('stop a splitting or processing job: pending partitions are skipped; it ends stopped with the counts of what merged')
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      await withDb(async (db) => {
        const job = await refusedAsCliError(() => stopIngestJob(db, id(jobId)));
        print(!!opts.json, summarize(job), () => describeIngestJob(job));
      });
    });
  program
    .command('restart <jobId>')
    .description("re-run a failed, stopped or completed_with_failures job's unfinished partitions")
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      await withDb(async (db, target) => {
        const queue = sqsPartitionQueue(createSqsClient(target.clients), queueUrl(target, 'partitions'));
        report(!!opts.json, await refusedAsCliError(() => restartIngestJob({ db, queue }, id(jobId))));
      });
    });
  program
    .command('redrive')
    .description("move a queue's dead-lettered messages back to it (StartMessageMoveTask on AWS; moved here against a local endpoint)")
    .addOption(new Option('--queue <queue>', 'which queue').choices(['ingest', 'partitions']).default('partitions'))
    .option('--json', 'print JSON')
    .action(async (opts: { queue: 'ingest' | 'partitions'; json?: boolean }) => {
      await withDb(async (_db, target) => {
        const sqs = createSqsClient(target.clients);
        // A local endpoint (moto) has no StartMessageMoveTask: the same move is made from here.
        const outcome = await redriveDeadLetters(sqs, queueUrl(target, opts.queue), { serverSide: target.endpoint === undefined });
        print(!!opts.json, outcome, () =>
          outcome.method === 'copied'
            ? `moved ${outcome.moved} message(s) from the ${opts.queue} DLQ back to its queue`
            : `started a message move task for ~${outcome.approximateMessages} message(s) from the ${opts.queue} DLQ (task ${outcome.taskHandle})`,
        );
      });
    });
}
