import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { openDatabase } from '../lib/adapters/database.ts';
import { loadConfig } from '../lib/config.ts';
import { serviceName } from '../lib/topology.ts';
import { runWatchdog } from '../lib/watchdog/watchdog.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('watchdog') });
const config = loadConfig('watchdog');
const db = await openDatabase(config);

/** On its schedule: fails the splits and partitions that nothing will try again, so every job ends. */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const report = await runWatchdog(db, config.limits);
    if (report.splitsFailed.length + report.partitionsFailed.length > 0) logger.warn('watchdog ended stale work', { ...report });
    return report;
  });
