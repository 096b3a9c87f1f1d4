import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { openDatabase } from '../lib/adapters/database.ts';
import { createTunerContext } from '../lib/adapters/tunerContext.ts';
import { loadConfig } from '../lib/config.ts';
import { serviceName } from '../lib/topology.ts';
import { runTuner } from '../lib/tune/runTuner.ts';

// Cold start: config, clients and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('tuner') });
const config = loadConfig('tuner');
const targets = config.tuner;
const ctx = createTunerContext(await openDatabase(config), targets, { defaultPartitionBytes: config.partitionBytes });

/** Run by its schedule: observe, recommend, apply (unless TUNER_APPLY=false), record. */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const run = await runTuner(ctx, { apply: targets.apply, now: new Date() });
    logger.info('tuner run', { recommendations: run.recommendations, applied: run.applied, bottlenecks: run.bottlenecks, measured: run.measured });
    return { applied: run.applied.length, recommendations: run.recommendations };
  });
