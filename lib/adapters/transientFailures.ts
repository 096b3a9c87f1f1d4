import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { isTransient, retryTransient, type TransientRetryOptions } from './database.ts';

/**
 * What a consumer does about transient database errors (a restart, a failover, a deadlock): retry
 * in-process a few times, then hand the message back to SQS for a redelivery in seconds rather
 * than after the queue's 1,800 s visibility timeout.
 */
export interface TransientFailurePolicy {
  readonly retry: TransientRetryOptions;
  /**
   * The visibility a message gets after its in-process retries ran out: `baseSeconds` × 2^(receives − 1),
   * at most `maxSeconds`, jittered down to half of that.
   */
  readonly redelivery: { readonly baseSeconds: number; readonly maxSeconds: number };
}

/**
 * The processor's policy. In-process: 3 retries at ~0.5, 1, 2 s (×1–2 jitter), ~7 s at most, for
 * a dropped connection or a lost race. Then redeliveries after 7.5–15, 15–30, 30–60, 60–120 and
 * 60–120 s: with the queue's 5 receives before the DLQ, a database away for up to ~3 minutes (a
 * restart, an Aurora failover) loses no partition to the DLQ; a longer outage ends there, to be
 * redriven.
 */
export const PROCESSOR_FAILURE_POLICY: TransientFailurePolicy = {
  retry: { retries: 3, minTimeoutMs: 500, maxTimeoutMs: 4000 },
  redelivery: { baseSeconds: 15, maxSeconds: 120 },
};

/** The visibility, in whole seconds, for a message received `receiveCount` times (jittered; `random` in [0, 1)). */
export function redeliverySeconds(policy: TransientFailurePolicy['redelivery'], receiveCount: number, random: number = Math.random()): number {
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, receiveCount - 1));
  return Math.max(1, Math.ceil(ceiling / 2 + (random * ceiling) / 2));
}

/**
 * Handles one SQS record's work under `policy`: transient errors are retried with jittered
 * backoff; when they persist, the record's visibility is shortened (ChangeMessageVisibility with its
 * receipt handle) and the error is rethrown, so the record is reported failed and SQS redelivers it
 * soon. Other errors are rethrown at once and wait out the visibility timeout as before. A failed
 * ChangeMessageVisibility is reported to `onVisibilityError` and otherwise ignored: the message then
 * comes back after the full timeout, later but not lost.
 */
export function withTransientRetries(
  sqs: SQSClient,
  queueUrl: string,
  policy: TransientFailurePolicy,
  hooks: { onRetry?: (error: Error, attempt: number) => void; onVisibilityError?: (error: Error) => void } = {},
): (record: SQSRecord, work: () => Promise<void>) => Promise<void> {
  return async (record, work) => {
    try {
      await retryTransient(work, { ...policy.retry, ...(hooks.onRetry ? { onRetry: hooks.onRetry } : {}) });
    } catch (err) {
      if (isTransient(err)) {
        const seconds = redeliverySeconds(policy.redelivery, Number(record.attributes.ApproximateReceiveCount) || 1);
        await sqs
          .send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds }))
          .catch((visibilityError: Error) => hooks.onVisibilityError?.(visibilityError));
      }
      throw err;
    }
  };
}
