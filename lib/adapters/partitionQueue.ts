import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { BatchflowError } from '../errors.ts';
import type { PartitionMessage } from '../process/partitionMessage.ts';
import type { PartitionQueue } from '../split/ports.ts';

// SendMessageBatch takes at most 10 entries (and 256 KiB; our bodies are tiny).
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
const ENTRIES_PER_BATCH = 10;
const BATCHES_IN_FLIGHT = 4;
const ATTEMPTS = 4;

/** SQS kept refusing some partition messages: the notification is retried, which re-sends every partition not yet marked enqueued. */
export class PartitionQueueSendError extends BatchflowError {
  override name = 'PartitionQueueSendError';
}

/** A PartitionQueue over SQS SendMessageBatch, retrying entries SQS reports as failed. */
export function sqsPartitionQueue(sqs: SQSClient, queueUrl: string): PartitionQueue {
  const sendBatch = async (batch: readonly PartitionMessage[]): Promise<void> => {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: pending.map((m) => ({ Id: String(m.idx), MessageBody: JSON.stringify(m) })),
        }),
      );
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((m) => failed.has(String(m.idx)));
      if (pending.length > 0 && attempt >= ATTEMPTS) {
        const f = out.Failed![0];
        throw new PartitionQueueSendError(`SQS refused ${pending.length} partition messages after ${ATTEMPTS} attempts: ${f.Code} ${f.Message}`);
      }
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  };
  return {
    async send(messages) {
      const batches: PartitionMessage[][] = [];
      for (let i = 0; i < messages.length; i += ENTRIES_PER_BATCH) batches.push(messages.slice(i, i + ENTRIES_PER_BATCH));
      for (let i = 0; i < batches.length; i += BATCHES_IN_FLIGHT) {
        await Promise.all(batches.slice(i, i + BATCHES_IN_FLIGHT).map(sendBatch));
      }
      return messages.map((m) => m.idx);
    },
  };
}
