import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type postgres from 'postgres';
import type { Script } from './fixtures/scriptedHandler.ts';

/** A stage name no other file or earlier run uses, so resources start empty. */
export function uniqueStage(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Sends one message per script (10 per SendMessageBatch, SQS's limit). */
export async function sendScripts(sqs: SQSClient, queueUrl: string, scripts: readonly Script[]): Promise<void> {
  for (let i = 0; i < scripts.length; i += 10) {
    const entries = scripts.slice(i, i + 10).map((s, j) => ({ Id: String(j), MessageBody: JSON.stringify(s) }));
    const { Failed } = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (Failed?.length) throw new Error(`send failed: ${JSON.stringify(Failed)}`);
  }
}

/** Messages in a queue, visible or in flight. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** The table scriptedHandler records into, fresh in a fresh schema. */
export async function createAttemptsTable(sql: postgres.Sql, schema: string): Promise<void> {
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql`create schema ${sql(schema)}`;
  await sql`
    create table ${sql(`${schema}.attempts`)} (
      key text not null,
      message_id text not null,
      receive_count int not null,
      batch_size int not null,
      request_id text not null,
      function_name text not null,
      thread_id int not null,
      started_ms bigint not null,
      ended_ms bigint not null,
      record jsonb not null,
      env jsonb not null
    )`;
}

export interface Attempt {
  readonly key: string;
  readonly messageId: string;
  readonly receiveCount: number;
  readonly batchSize: number;
  readonly requestId: string;
  readonly functionName: string;
  readonly threadId: number;
  readonly startedMs: number;
  readonly endedMs: number;
  readonly record: Record<string, unknown>;
  readonly env: Record<string, string | undefined>;
}

/** Every attempt recorded so far, oldest first. */
export async function readAttempts(sql: postgres.Sql, schema: string): Promise<Attempt[]> {
  const rows = await sql`select * from ${sql(`${schema}.attempts`)} order by started_ms, key`;
  return rows.map((r) => ({
    key: r.key,
    messageId: r.message_id,
    receiveCount: r.receive_count,
    batchSize: r.batch_size,
    requestId: r.request_id,
    functionName: r.function_name,
    threadId: r.thread_id,
    startedMs: Number(r.started_ms),
    endedMs: Number(r.ended_ms),
    record: r.record,
    env: r.env,
  }));
}

/** Attempts per key. */
export function countByKey(attempts: readonly Attempt[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of attempts) counts[a.key] = (counts[a.key] ?? 0) + 1;
  return counts;
}

/** The most invocations whose [start, end) intervals overlap at one instant (one per request id). */
export function maxOverlap(attempts: readonly Attempt[]): number {
  const byRequest = new Map(attempts.map((a) => [a.requestId, a]));
  const edges = [...byRequest.values()].flatMap((a) => [
    { at: a.startedMs, delta: 1 },
    { at: a.endedMs, delta: -1 },
  ]);
  // Ends before starts at the same instant: back-to-back invocations do not overlap.
  edges.sort((x, y) => x.at - y.at || x.delta - y.delta);
  let current = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (current += e.delta));
  return max;
}
