import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { openDatabase } from '../lib/adapters/database.ts';
import { loadConfig } from '../lib/config.ts';
import { runRetention } from '../lib/retention/retention.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('retention') });
const config = loadConfig('retention');
const db = await openDatabase(config);

// Stops this long before the function's timeout, so a batch in flight finishes and reports.
const MARGIN_MS = 20_000;

/** On its schedule: deletes the history past its retention (lib/retention), as far as time allows. */
export const handler = middy<unknown, unknown, Error, Context>()
  .use(injectLambdaContext(logger))
  .handler(async (_event, context) => {
    const report = await runRetention(db, { deadlineMs: Date.now() + Math.max(0, context.getRemainingTimeInMillis() - MARGIN_MS) });
    if (Object.values(report.deleted).some((n) => n > 0)) logger.info('retention deleted expired history', { ...report });
    return report;
  });
