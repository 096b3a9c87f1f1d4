import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { openDatabase } from '../lib/adapters/database.ts';
import { loadConfig } from '../lib/config.ts';
import { migrate } from '../lib/store/migrate.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: 'batchflow-migrate' });
const db = await openDatabase(loadConfig());

/**
 * Run by the stack on deploy, before the schedules are synced: applies the migrations the
 * database has not recorded yet. Idempotent (applied versions are skipped) and safe against a
 * concurrent run (an advisory lock serialises them); a failure fails the deploy, which rolls back.
 */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const applied = await migrate(db);
    logger.info('schema migrated', { schema: db.schema, applied });
    return { schema: db.schema, applied };
  });
