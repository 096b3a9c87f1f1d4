import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { IngestQueue } from '../split/ports.ts';
import { s3Notification } from '../split/s3Event.ts';

/** An IngestQueue over SQS: one S3-shaped ObjectCreated notification per object. */
export function sqsIngestQueue(sqs: SQSClient, queueUrl: string): IngestQueue {
  return {
    async send(object) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: s3Notification(object) }));
    },
  };
}
