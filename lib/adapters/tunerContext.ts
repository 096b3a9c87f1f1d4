import type { TunerTargets } from '../config.ts';
import type { Db } from '../store/db.ts';
import { topology } from '../topology.ts';
import type { TunerContext } from '../tune/runTuner.ts';
import { createCloudWatchClient, createLambdaClient, type AwsClientOptions } from './aws.ts';
import { readObservation } from './metricsReader.ts';
import { createProcessorSettings } from './processorSettings.ts';

/**
 * The tuner's context over CloudWatch (GetMetricData) and Lambda (the processor's mapping and
 * concurrency): the tuner function and the API's tuning routes build it the same way, once per
 * container.
 *
 * @example
 * const tuner = createTunerContext(db, config.tuner, { defaultPartitionBytes: config.partitionBytes });
 */
export function createTunerContext(
  db: Db,
  targets: Omit<TunerTargets, 'apply'>,
  options: { readonly defaultPartitionBytes: number; readonly clients?: AwsClientOptions },
): TunerContext {
  const cloudWatch = createCloudWatchClient(options.clients);
  const names = { partitionQueue: targets.partitionQueueName, processor: targets.processorFunctionName, splitter: targets.splitterFunctionName };
  return {
    db,
    processor: createProcessorSettings(createLambdaClient(options.clients), { functionName: targets.processorFunctionName, queueArn: targets.partitionQueueArn }),
    observe: (window) => readObservation(cloudWatch, names, window),
    defaultPartitionBytes: options.defaultPartitionBytes,
    windowSeconds: topology.scheduled.tuner.windowSeconds,
    periodSeconds: topology.scheduled.tuner.periodSeconds,
    // The stack caps concurrency below what the database's connections allow.
    ...(targets.maxConcurrency ? { law: { bounds: { maxConcurrency: targets.maxConcurrency } } } : {}),
  };
}
