import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { openDatabase } from '../lib/adapters/database.ts';
import { readDefinitionFiles } from '../lib/adapters/definitionFiles.ts';
import { loadConfig } from '../lib/config.ts';
import { applyDefinitions } from '../lib/definitions/apply.ts';
import { migrate } from '../lib/store/migrate.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('migrate') });
const config = loadConfig();
const db = await openDatabase(config);

/**
 * Run by the stack on deploy, before the schedules are synced: applies the migrations the
 * database has not recorded yet (idempotent; an advisory lock serialises concurrent runs), then
 * the dataset and job definitions bundled with it. A failure fails the deploy, which rolls back.
 */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const applied = await migrate(db);
    const definitions = config.definitionsDir ? await applyDefinitions(db, readDefinitionFiles(config.definitionsDir)) : { datasets: [], jobs: [] };
    logger.info('schema migrated, definitions applied', { schema: db.schema, applied, ...definitions });
    return { schema: db.schema, applied, ...definitions };
  });
