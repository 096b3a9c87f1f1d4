import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { openDatabase, retryOnConnectionErrors } from '../lib/adapters/database.ts';
import { readDefinitionFiles } from '../lib/adapters/definitionFiles.ts';
import { loadConfig } from '../lib/config.ts';
import { applyDefinitions } from '../lib/definitions/apply.ts';
import { migrate } from '../lib/store/migrate.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('migrate') });
const config = loadConfig('migrate');
const db = await openDatabase(config);

/**
 * Run by the stack on deploy, before the schedules are synced: applies the migrations the
 * database has not recorded yet (idempotent; an advisory lock serialises concurrent runs), then
 * the dataset and job definitions bundled with it. A failure fails the deploy, which rolls back.
 */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    // Backoff 2, 4, 8, 16, 32, 45, 45 s between at most 8 attempts of up to 15 s (the connect timeout): under the 300 s of the function and its trigger.
    const applied = await retryOnConnectionErrors(() => migrate(db), {
      retries: 7,
      minTimeoutMs: 2_000,
      maxTimeoutMs: 45_000,
      onRetry: (error, attempt, retriesLeft) => logger.warn('database not reachable yet, retrying', { attempt, retriesLeft, error: error.message }),
    });
    const definitions = config.definitionsDir ? await applyDefinitions(db, readDefinitionFiles(config.definitionsDir)) : { datasets: [], jobs: [] };
    logger.info('schema migrated, definitions applied', { schema: db.schema, applied, ...definitions });
    return { schema: db.schema, applied, ...definitions };
  });
