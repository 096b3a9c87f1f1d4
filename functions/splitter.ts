import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import sqsPartialBatchFailure from '@middy/sqs-partial-batch-failure';
import type { SQSEvent } from 'aws-lambda';
import { createS3Client, createSqsClient } from '../lib/adapters/aws.ts';
import { openDatabase } from '../lib/adapters/database.ts';
import { s3ObjectStore } from '../lib/adapters/objectStore.ts';
import { sqsPartitionQueue } from '../lib/adapters/partitionQueue.ts';
import { resourceUsageRecorder, sqsQueueDepth } from '../lib/adapters/resourceUsageRecorder.ts';
import { settleEach } from '../lib/adapters/sqsBatch.ts';
import { loadConfig } from '../lib/config.ts';
import { parseS3Notification } from '../lib/split/s3Event.ts';
import { recordFailedSplit, splitObject, type SplitContext } from '../lib/split/splitObject.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config, clients and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('splitter') });
const config = loadConfig('splitter');
const sqs = createSqsClient();
const ctx: SplitContext = {
  db: await openDatabase(config),
  objects: s3ObjectStore(createS3Client()),
  queue: sqsPartitionQueue(sqs, config.partitionQueueUrl),
  partitionBytes: config.partitionBytes,
  maxRecordBytes: config.maxRecordBytes,
  maxDecompressedBytes: config.maxDecompressedBytes,
};

/** S3 ObjectCreated notifications (via the ingest queue) → jobs and partition messages. */
export const handler = middy<SQSEvent>()
  .use(injectLambdaContext(logger))
  .use(
    resourceUsageRecorder({
      db: ctx.db,
      function: 'splitter',
      memoryMb: config.memoryMb,
      poolCap: config.databasePoolSize,
      // The queue it fills: its send grant includes GetQueueAttributes.
      queueDepth: sqsQueueDepth(sqs, config.partitionQueueUrl),
      logger,
    }),
  )
  .use(sqsPartialBatchFailure({ logger: (reason: unknown) => logger.error('notification failed', { error: reason as Error }) }))
  .handler((event, context) =>
    settleEach(event.Records, async (record) => {
      const { objects, ignored } = parseS3Notification(record.body);
      if (ignored.length > 0) logger.info('ignored notification', { ignored });
      for (const object of objects) {
        try {
          logger.info('split', { object, outcome: await splitObject(ctx, object, { remainingMs: () => context.getRemainingTimeInMillis() }) });
        } catch (reason) {
          // On the last delivery the job fails, naming the error, before the notification dead-letters.
          const delivery = { receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1, maxReceives: config.maxReceives };
          await recordFailedSplit(ctx.db, object, delivery, reason).catch((error: Error) =>
            logger.error('could not record the failed split (the watchdog will)', { object, error }),
          );
          throw reason;
        }
      }
    }),
  );
