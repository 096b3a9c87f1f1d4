import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { createSchedulerClient } from '../lib/adapters/aws.ts';
import { openDatabase } from '../lib/adapters/database.ts';
import { schedulerJobSchedules } from '../lib/adapters/jobSchedules.ts';
import { syncSchedules } from '../lib/analytics/syncSchedules.ts';
import { loadConfig } from '../lib/config.ts';
import { listAnalyticsJobs } from '../lib/store/analytics.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config, clients and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('syncSchedules') });
const config = loadConfig('syncSchedules');
const db = await openDatabase(config);
const schedules = schedulerJobSchedules(createSchedulerClient(), config.jobSchedules);

/** Run by the stack after every deploy: one EventBridge Scheduler schedule per job, none for deleted jobs. */
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => {
    const jobs = (await listAnalyticsJobs(db)).map((j) => j.definition);
    const outcome = await syncSchedules(jobs, schedules);
    logger.info('schedules synced', { ...outcome });
    return outcome;
  });
