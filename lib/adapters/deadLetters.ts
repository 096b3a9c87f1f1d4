import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { BatchflowError } from '../errors.ts';

/** A dead-letter redrive that cannot start (no DLQ) or could not send every message back. */
export class RedriveError extends BatchflowError {
  override name = 'RedriveError';
}

/** What a redrive did. */
export type RedriveOutcome =
  /** AWS moves the messages itself, asynchronously; `approximateMessages` were in the DLQ when it started. */
  | { readonly method: 'message-move-task'; readonly taskHandle: string; readonly approximateMessages: number }
  /** Moved here, message by message: each sent to the source queue, then deleted from the DLQ. */
  | { readonly method: 'copied'; readonly moved: number };

/** A queue's DLQ, from its redrive policy. */
export async function deadLetterQueueOf(sqs: SQSClient, queueUrl: string): Promise<{ sourceArn: string; arn: string; url: string }> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn', 'RedrivePolicy'] }));
  const policy = Attributes?.RedrivePolicy ? (JSON.parse(Attributes.RedrivePolicy) as { deadLetterTargetArn?: string }) : {};
  if (!policy.deadLetterTargetArn) throw new RedriveError(`${queueUrl} has no dead-letter queue (no RedrivePolicy)`);
  // arn:aws:sqs:<region>:<account>:<name>
  const [, , , , account, name] = policy.deadLetterTargetArn.split(':');
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }));
  return { sourceArn: Attributes!.QueueArn!, arn: policy.deadLetterTargetArn, url: QueueUrl! };
}

/**
 * Moves a queue's dead-lettered messages back to it. On AWS with SQS's own redrive
 * (StartMessageMoveTask: server-side, throttled, resumable; the messages keep their bodies and
 * attributes). An endpoint without it (moto) gets the same effect here: receive from the DLQ, send
 * to the source queue, then delete — a crash between the two sends a message twice, which
 * batchflow's consumers absorb (a partition merges once, a split resumes), never loses one.
 */
export async function redriveDeadLetters(sqs: SQSClient, queueUrl: string, options: { readonly serverSide: boolean }): Promise<RedriveOutcome> {
  const dlq = await deadLetterQueueOf(sqs, queueUrl);
  if (options.serverSide) {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.arn, DestinationArn: dlq.sourceArn }));
    return { method: 'message-move-task', taskHandle: TaskHandle!, approximateMessages: Number(Attributes?.ApproximateNumberOfMessages ?? 0) };
  }
  let moved = 0;
  for (;;) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60, MessageAttributeNames: ['All'] }),
    );
    if (!Messages?.length) return { method: 'copied', moved };
    const entries = Messages.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '', ...(m.MessageAttributes ? { MessageAttributes: m.MessageAttributes } : {}) }));
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    // Only what reached the source queue leaves the DLQ; the rest stays for the next redrive.
    const ok = new Set((sent.Successful ?? []).map((s) => Number(s.Id)));
    const done = Messages.filter((_, i) => ok.has(i));
    if (done.length > 0) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: dlq.url, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    moved += done.length;
    if (sent.Failed?.length) throw new RedriveError(`redrive: ${sent.Failed.length} message(s) could not be sent back: ${sent.Failed[0]!.Message}`);
  }
}
