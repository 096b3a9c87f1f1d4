import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttribute, SQSRecord } from 'aws-lambda';

/**
 * The SQS event Lambda hands a function for a batch of received messages, with the fields and
 * casing Lambda uses (camelCase record keys, system attributes as strings, binary as base64).
 * https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#example-standard-queue-message-event
 */
export function toSqsEvent(messages: readonly Message[], queueArn: string, region: string): SQSEvent {
  return { Records: messages.map((m) => toSqsRecord(m, queueArn, region)) };
}

function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ...attributes,
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, toRecordAttribute(value)]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

function toRecordAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
    ...(value.BinaryValue !== undefined ? { binaryValue: base64(value.BinaryValue) } : {}),
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType!,
  };
}

/** Which records of a batch failed: some (by message id), or all of them with the reason. */
export type BatchVerdict =
  | { readonly kind: 'partial'; readonly failed: ReadonlySet<string> }
  | { readonly kind: 'all-failed'; readonly reason: string };

/**
 * Reads a handler's result as Lambda does with ReportBatchItemFailures: nothing, `{}` or an empty
 * `batchItemFailures` is a complete success; a malformed response, or an `itemIdentifier` that is
 * empty or not a message id of the batch, fails the whole batch.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting
 */
export function readBatchResponse(response: unknown, records: readonly SQSRecord[]): BatchVerdict {
  if (response === undefined || response === null) return { kind: 'partial', failed: new Set() };
  if (typeof response !== 'object' || Array.isArray(response)) {
    return { kind: 'all-failed', reason: `invalid response: ${describe(response)}` };
  }
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'partial', failed: new Set() };
  if (!Array.isArray(failures)) return { kind: 'all-failed', reason: `invalid batchItemFailures: ${describe(failures)}` };

  const ids = new Set(records.map((r) => r.messageId));
  const failed = new Set<string>();
  for (const item of failures) {
    const id = (item as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !ids.has(id)) {
      return { kind: 'all-failed', reason: `invalid batch item failure: ${describe(item)}` };
    }
    failed.add(id);
  }
  return { kind: 'partial', failed };
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}
