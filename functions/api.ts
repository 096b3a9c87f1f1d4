import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createS3Client, createSchedulerClient, createSqsClient } from '../lib/adapters/aws.ts';
import { openDatabase } from '../lib/adapters/database.ts';
import { sqsIngestQueue } from '../lib/adapters/ingestQueue.ts';
import { schedulerJobSchedules } from '../lib/adapters/jobSchedules.ts';
import { s3ObjectStore } from '../lib/adapters/objectStore.ts';
import { sqsPartitionQueue } from '../lib/adapters/partitionQueue.ts';
import { createTunerContext } from '../lib/adapters/tunerContext.ts';
import type { ApiContext } from '../lib/api/context.ts';
import { httpRoutes, jsonErrors, routeNotFound } from '../lib/api/http.ts';
import { loadConfig } from '../lib/config.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('api') });
const config = loadConfig('api');
const sqs = createSqsClient();
const db = await openDatabase(config);
const ctx: ApiContext = {
  db,
  queue: sqsPartitionQueue(sqs, config.partitionQueueUrl),
  objects: s3ObjectStore(createS3Client()),
  ingest: sqsIngestQueue(sqs, config.ingestQueueUrl),
  uploadBucket: config.uploadBucket,
  partitionBytes: config.partitionBytes,
  maxRecordBytes: config.maxRecordBytes,
  schedules: config.jobSchedules && schedulerJobSchedules(createSchedulerClient(), config.jobSchedules),
  // The tuning routes run the tuner's own code against the same metrics and levers.
  tuner: createTunerContext(db, config.tuner, { defaultPartitionBytes: config.partitionBytes }),
};

/**
 * The HTTP API (API Gateway HTTP API, payload 2.0, IAM-authorised): GET routes answering JSON,
 * POST routes for recovery (lib/api/routes.ts), the REST routes (rest.ts, jobRoutes.ts) and the
 * operations routes (operations.ts: resource usage, bottlenecks, tuning). Client errors are
 * 400/404/409 with `{ error }`; anything else is a 500 whose cause is only logged.
 */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
  .use(injectLambdaContext(logger))
  .use(jsonErrors(logger))
  .handler(httpRouterHandler({ routes: httpRoutes(ctx, {
      uploadBucket: config.uploadBucket,
      region: config.region,
      queues: { ingest: config.ingestQueueUrl, partitions: config.partitionQueueUrl },
    }), notFoundResponse: routeNotFound }));
