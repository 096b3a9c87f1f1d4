import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import sqsPartialBatchFailure from '@middy/sqs-partial-batch-failure';
import type { Context, SQSEvent } from 'aws-lambda';
import { createS3Client, createSqsClient } from '../lib/adapters/aws.ts';
import { openDatabase, isConnectionError } from '../lib/adapters/database.ts';
import { s3ObjectStore } from '../lib/adapters/objectStore.ts';
import { parsePartitionMessage } from '../lib/process/partitionMessage.ts';
import { addPartitionMetrics, addSignal } from '../lib/adapters/partitionMetrics.ts';
import { resourceUsageRecorder, sqsQueueDepth } from '../lib/adapters/resourceUsageRecorder.ts';
import { settleEach } from '../lib/adapters/sqsBatch.ts';
import { PROCESSOR_FAILURE_POLICY, withTransientRetries } from '../lib/adapters/transientFailures.ts';
import { compactionDeadline, compactPartials } from '../lib/compact/compactor.ts';
import { loadConfig } from '../lib/config.ts';
import { cachedJobDefinitions } from '../lib/process/definitionCache.ts';
import { processPartition, recordFailedAttempt, type ProcessContext } from '../lib/process/processPartition.ts';
import { getJobDefinition } from '../lib/store/ingestJobs.ts';
import { METRICS_NAMESPACE } from '../lib/tune/signals.ts';
import { serviceName } from '../lib/topology.ts';

// Cold start: config, clients and the pool are built once per container.
const logger = new Logger({ serviceName: serviceName('processor') });
const config = loadConfig('processor');
// EMF on stdout: CloudWatch turns it into metrics on AWS, the local runtime does the same locally.
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: config.functionName });
const db = await openDatabase(config);
const ctx: ProcessContext = {
  db,
  objects: s3ObjectStore(createS3Client()),
  maxRecordBytes: config.maxRecordBytes,
  maxStoredRejects: config.maxStoredRejects,
  flushCells: config.flushCells,
  // Module scope: the container's partitions of one job read its definition snapshot once.
  definitions: cachedJobDefinitions((jobId) => getJobDefinition(db, jobId)),
};
const sqs = createSqsClient();
// Transient database errors: retried here, then the message comes back in seconds, not 30 minutes.
const retrying = withTransientRetries(sqs, config.partitionQueueUrl, PROCESSOR_FAILURE_POLICY, {
  onRetry: (error, attempt) => {
    if (isConnectionError(error)) addSignal(metrics, 'dbConnectionErrors', 1);
    logger.warn('transient database error, retrying', { attempt, error });
  },
  onVisibilityError: (error) => logger.warn('could not shorten the visibility', { error }),
});

/** Partition messages → aggregates merged into Postgres, exactly once; failures reported per item. */
export const handler = middy<SQSEvent, unknown, Error, Context>()
  .use(injectLambdaContext(logger))
  .use(
    resourceUsageRecorder({
      db: ctx.db,
      function: 'processor',
      memoryMb: config.memoryMb,
      poolCap: config.databasePoolSize,
      // The queue it consumes: the mapping's grant includes GetQueueAttributes.
      queueDepth: sqsQueueDepth(sqs, config.partitionQueueUrl),
      logger,
    }),
  )
  .use(logMetrics(metrics))
  .use(sqsPartialBatchFailure({ logger: (reason: unknown) => logger.error('partition failed', { error: reason as Error }) }))
  .handler((event, context) =>
    settleEach(event.Records, async (record) => {
      const message = parsePartitionMessage(record.body);
      let finished: string | undefined;
      try {
        await retrying(record, async () => {
          const outcome = await processPartition(ctx, message);
          addPartitionMetrics(metrics, outcome);
          logger.info('partition', { ...outcome });
          if (outcome.jobFinished) finished = outcome.dataset;
        });
      } catch (reason) {
        if (isConnectionError(reason)) addSignal(metrics, 'dbConnectionErrors', 1);
        // On the last delivery the partition is marked failed before the message dead-letters.
        const delivery = { receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1, maxReceives: config.maxReceives };
        await recordFailedAttempt(ctx, message, delivery, reason).then(
          (state) => logger.warn('attempt failed', { ...message, ...delivery, state }),
          (error: Error) => logger.error('could not record the failed attempt (the watchdog will)', { ...message, error }),
        );
        throw reason;
      }
      // The job is done (its status committed): compact what it appended now rather than at the next
      // scheduled pass. Best effort — the partition is merged either way, and the schedule catches up.
      if (finished !== undefined && config.compactAfterJob) {
        await compactPartials(ctx.db, { dataset: finished, deadlineMs: compactionDeadline(context.getRemainingTimeInMillis()) }).then(
          (result) => logger.info('compacted after the job finished', { dataset: finished, ...result }),
          (error: Error) => logger.warn('compaction after the job failed (the scheduled compactor retries it)', { dataset: finished, error }),
        );
      }
    }),
  );
