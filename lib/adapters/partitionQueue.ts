import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** The body of one partition message: which job and which partition (Postgres holds the rest). */
export interface PartitionMessage {
  readonly v: 1;
  readonly jobId: number;
  readonly idx: number;
}

/** Sends partition messages to the partition queue. */
export interface PartitionQueue {
  /** Sends every message; resolves with the indexes SQS accepted, throws if some never were. */
  send(messages: readonly PartitionMessage[]): Promise<number[]>;
}

// SendMessageBatch takes at most 10 entries (and 256 KiB; our bodies are tiny).
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
const ENTRIES_PER_BATCH = 10;
const BATCHES_IN_FLIGHT = 4;
const ATTEMPTS = 4;

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
        throw new Error(`SQS refused ${pending.length} partition messages after ${ATTEMPTS} attempts: ${f.Code} ${f.Message}`);
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

/** Reads a partition message body, naming what is wrong with a bad one. */
export function parsePartitionMessage(body: string): PartitionMessage {
  let m: Partial<PartitionMessage>;
  try {
    m = JSON.parse(body);
  } catch {
    throw new Error(`partition message is not JSON: ${body.slice(0, 200)}`);
  }
  if (m.v !== 1 || !Number.isInteger(m.jobId) || !Number.isInteger(m.idx)) {
    throw new Error(`partition message lacks v=1, jobId or idx: ${body.slice(0, 200)}`);
  }
  return { v: 1, jobId: m.jobId!, idx: m.idx! };
}
