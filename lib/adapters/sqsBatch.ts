import type { SQSRecord } from 'aws-lambda';

/**
 * Handles a batch's records one after another and settles each, in the order
 * `@middy/sqs-partial-batch-failure` expects: a rejected record is reported in
 * `batchItemFailures` and redelivered alone, the others are deleted. One at a time because a
 * record of either queue is already a large unit of work (an object to split, a partition of
 * ~10^5 records) with memory of its own.
 *
 * @example
 * .handler((event) => settleEach(event.Records, async (record) => processPartition(ctx, parsePartitionMessage(record.body))))
 */
export async function settleEach(records: readonly SQSRecord[], handle: (record: SQSRecord) => Promise<void>): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = [];
  for (const record of records) {
    try {
      await handle(record);
      results.push({ status: 'fulfilled', value: undefined });
    } catch (reason) {
      results.push({ status: 'rejected', reason });
    }
  }
  return results;
}
