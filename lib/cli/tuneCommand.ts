import type { Command } from 'commander';
import { createCloudWatchClient, createLambdaClient } from '../adapters/aws.ts';
import { readObservation } from '../adapters/metricsReader.ts';
import { createProcessorSettings } from '../adapters/processorSettings.ts';
import type { Db } from '../store/db.ts';
import { topology } from '../topology.ts';
import { runTuner, type TunerRun } from '../tune/runTuner.ts';
import { table } from './report.ts';
import type { WithDb } from './withDb.ts';
import { CliError, type Target } from './target.ts';


/** One tuner pass from the CLI, against the local stack or a deployed one. */
async function tune(db: Db, target: Target, apply: boolean): Promise<TunerRun> {
  const names = target.tuner;
  if (!names) {
    throw new CliError('set BATCHFLOW_PROCESSOR_FUNCTION, BATCHFLOW_SPLITTER_FUNCTION and BATCHFLOW_PARTITION_QUEUE_ARN (stack outputs) to tune a deployed stack');
  }
  const clients = target.clients;
  const cloudWatch = createCloudWatchClient(clients);
  const spec = topology.scheduled.tuner;
  return runTuner(
    {
      db,
      processor: createProcessorSettings(createLambdaClient(clients), { functionName: names.processorFunctionName, queueArn: names.partitionQueueArn }),
      observe: (window) =>
        readObservation(cloudWatch, { partitionQueue: names.partitionQueueName, processor: names.processorFunctionName, splitter: names.splitterFunctionName }, window),
      defaultPartitionBytes: topology.ingest.partitionBytes,
      windowSeconds: spec.windowSeconds,
      periodSeconds: spec.periodSeconds,
    },
    { apply, now: new Date() },
  );
}

/** Adds `tune [--apply] [--json]`: a dry run unless --apply. */
export function addTuneCommand(program: Command, withDb: WithDb): void {
  program
    .command('tune')
    .description("recommend the processor's batch size, concurrency and the partition size from the metrics; --apply sets them")
    .option('--apply', 'apply the recommendations (default: dry run)')
    .option('--json', 'print [{parameter, currentValue, recommendedValue, reason, expectedImprovement}]')
    .action(async (opts: { apply?: boolean; json?: boolean }) => {
      const run = await withDb((db, target) => tune(db, target, !!opts.apply));
      if (opts.json) return console.log(JSON.stringify(run.recommendations, null, 2));
      console.log(table(run.recommendations.map((r) => ({ parameter: r.parameter, current: r.currentValue ?? 'none', recommended: r.recommendedValue ?? 'none', reason: r.reason }))));
      for (const b of run.bottlenecks) console.log(`bottleneck: ${b.component} ${b.kind}: ${b.recommendation}`);
      console.log(opts.apply ? `applied ${run.applied.length} change(s)` : 'dry run: nothing changed (use --apply)');
    });
}
