import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { openDatabase } from '../lib/adapters/database.ts';
import { resourceUsageRecorder } from '../lib/adapters/resourceUsageRecorder.ts';
import { compactionDeadline, compactPartials } from '../lib/compact/compactor.ts';
import { loadConfig } from '../lib/config.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('compactor') });
const config = loadConfig('compactor');
const db = await openDatabase(config);

/** On its schedule: merges partial aggregates into the compacted rollups, as many shards as time allows. */
export const handler = middy<unknown, unknown, Error, Context>()
  .use(injectLambdaContext(logger))
  .use(resourceUsageRecorder({ db, function: 'compactor', memoryMb: config.memoryMb, poolCap: config.databasePoolSize, logger }))
  .handler(async (_event, context) => {
    const result = await compactPartials(db, { deadlineMs: compactionDeadline(context.getRemainingTimeInMillis()) });
    if (result.shards > 0) logger.info('compacted', { ...result });
    return result;
  });
