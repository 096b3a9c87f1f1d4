import type { PartitionMessage } from '../process/partitionMessage.ts';
import type { Db } from '../store/db.ts';
import { markEnqueued, unsentPartitions, type Partition } from '../store/partitions.ts';
import type { PartitionQueue } from './ports.ts';

/**
 * Messages sent between two notes of what was sent: a splitter that times out mid-way (20,000
 * messages take tens of seconds) leaves only the last chunk to be re-sent by the retried notification.
 */
const SEND_CHUNK = 1000;

/**
 * Sends one message per partition of the job not yet known to be in the queue, noting each chunk
 * as sent; returns how many were sent. The split calls it (and a repeated notification, to finish
 * an interrupted send); so do `retry` and `restart`, after putting partitions back to unsent.
 * A partition sent twice is merged once: sending is at least once, merging exactly once.
 */
export async function sendUnsentPartitions(ctx: { readonly db: Db; readonly queue: PartitionQueue }, jobId: number): Promise<number> {
  const unsent = await unsentPartitions(ctx.db, jobId);
  let sent = 0;
  for (let i = 0; i < unsent.length; i += SEND_CHUNK) {
    const accepted = await ctx.queue.send(unsent.slice(i, i + SEND_CHUNK).map((p) => messageOf(jobId, p)));
    await markEnqueued(ctx.db, jobId, accepted);
    sent += accepted.length;
  }
  return sent;
}

/** A partition's message: a Parquet partition's carries its row groups. */
function messageOf(jobId: number, p: Partition): PartitionMessage {
  const { rowGroupStart: start, rowGroupEnd: end } = p;
  return start === null || end === null ? { v: 1, jobId, idx: p.idx } : { v: 1, jobId, idx: p.idx, rowGroups: [start, end] };
}
