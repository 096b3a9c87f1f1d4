import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { createCloudWatchClient, createLambdaClient } from '../lib/adapters/aws.ts';
import { openDatabase } from '../lib/adapters/database.ts';
import { readObservation } from '../lib/adapters/metricsReader.ts';
import { createProcessorSettings } from '../lib/adapters/processorSettings.ts';
import { loadConfig } from '../lib/config.ts';
import { topology, serviceName } from '../lib/topology.ts';
import { runTuner, type TunerContext } from '../lib/tune/runTuner.ts';

// Cold start: config, clients and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('tuner') });
const config = loadConfig('tuner');
const targets = config.tuner;
const cloudWatch = createCloudWatchClient();
const ctx: TunerContext = {
  db: await openDatabase(config),
  processor: createProcessorSettings(createLambdaClient(), { functionName: targets.processorFunctionName, queueArn: targets.partitionQueueArn }),
  observe: (window) =>
    readObservation(cloudWatch, { partitionQueue: targets.partitionQueueName, processor: targets.processorFunctionName, splitter: targets.splitterFunctionName }, window),
  defaultPartitionBytes: config.partitionBytes,
  windowSeconds: topology.scheduled.tuner.windowSeconds,
  periodSeconds: topology.scheduled.tuner.periodSeconds,
  // The stack caps concurrency below what the database's connections allow.
  ...(targets.maxConcurrency ? { law: { bounds: { maxConcurrency: targets.maxConcurrency } } } : {}),
};

/** Run by its schedule: observe, recommend, apply (unless TUNER_APPLY=false), record. */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const run = await runTuner(ctx, { apply: targets.apply, now: new Date() });
    logger.info('tuner run', { recommendations: run.recommendations, applied: run.applied, bottlenecks: run.bottlenecks, measured: run.measured });
    return { applied: run.applied.length, recommendations: run.recommendations };
  });
