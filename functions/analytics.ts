import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { openDatabase } from '../lib/adapters/database.ts';
import { resourceUsageRecorder } from '../lib/adapters/resourceUsageRecorder.ts';
import { parseSchedulePayload } from '../lib/analytics/payload.ts';
import { runAnalyticsJob } from '../lib/analytics/runAnalyticsJob.ts';
import { loadConfig } from '../lib/config.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('analytics') });
const config = loadConfig('analytics');
const db = await openDatabase(config);

/**
 * A schedule fired (EventBridge Scheduler, or the local runtime): run the job it names for the
 * scheduled time. A failure throws, so the scheduler's retry policy applies.
 */
export const handler = middy<unknown>()
  .use(injectLambdaContext(logger))
  .use(resourceUsageRecorder({ db, function: 'analytics', memoryMb: config.memoryMb, poolCap: config.databasePoolSize, logger }))
  .handler(async (event) => {
    const { job, scheduledTime } = parseSchedulePayload(event, new Date());
    const outcome = await runAnalyticsJob(db, job, scheduledTime, 'schedule');
    logger.info('analytics run', { job, status: outcome.status, windows: outcome.windows.length, rows: outcome.rows.length, durationMs: outcome.durationMs });
    return { job, status: outcome.status, windows: outcome.windows.length, rows: outcome.rows.length };
  });
