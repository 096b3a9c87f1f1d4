import type { Db } from '../store/db.ts';
import { failIngestJob } from '../store/ingestJobs.ts';
import { failPartition } from '../store/partitions.ts';
import { stalePartitions, staleSplits, type StalePartition } from '../store/watchdog.ts';
import type { WatchdogTimings } from '../topology.ts';

/** What one watchdog run ended. */
export interface WatchdogReport {
  /** Jobs failed because their split will not finish. */
  readonly splitsFailed: readonly { readonly jobId: number; readonly reason: string }[];
  /** Partitions failed because no attempt will reach them (their jobs end when nothing else is left). */
  readonly partitionsFailed: readonly { readonly jobId: number; readonly idx: number; readonly reason: string }[];
}

/**
 * Ends what nothing else will. A function that crashes, times out or runs out of memory on the
 * last delivery of its message cannot record its failure, and a message may expire unreceived: the
 * job would stay `splitting` or `processing` forever. Run on a schedule, the watchdog fails those
 * splits and partitions (jobs then end by their counts), each with a reason saying what was seen;
 * `batchflow retry` and `restart` take it from there. A decision is only applied when the split or
 * partition has not started another attempt since it was read, so a late redelivery wins.
 */
export async function runWatchdog(db: Db, limits: WatchdogTimings): Promise<WatchdogReport> {
  const splitsFailed: { jobId: number; reason: string }[] = [];
  for (const s of await staleSplits(db, limits)) {
    const reason =
      `the split did not finish: ${s.splitAttempts} attempt(s), the last started at ${s.since.toISOString()}, and none followed ` +
      `(the splitter timed out, ran out of memory or crashed, and the notification dead-lettered): upload the object again, or redrive the ingest DLQ`;
    if (await failIngestJob(db, s.jobId, reason, { splitAttempts: s.splitAttempts })) splitsFailed.push({ jobId: s.jobId, reason });
  }
  const partitionsFailed: { jobId: number; idx: number; reason: string }[] = [];
  for (const p of await stalePartitions(db, limits)) {
    const reason = staleReason(p, limits);
    if (await failPartition(db, p.jobId, p.idx, reason, { attempts: p.attempts })) partitionsFailed.push({ jobId: p.jobId, idx: p.idx, reason });
  }
  return { splitsFailed, partitionsFailed };
}

function staleReason(p: StalePartition, t: WatchdogTimings): string {
  switch (p.staleness) {
    case 'no-attempt-since':
      return (
        `no attempt since ${p.startedAt!.toISOString()} (${p.attempts} started, the queue allows ${t.partitionMaxReceives}): ` +
        `the last one timed out, ran out of memory or crashed, and its message dead-lettered without the failure being recorded`
      );
    case 'expired':
      return `its message, sent at ${p.enqueuedAt!.toISOString()}, was not received within the queue's retention (${t.partitionExpirySeconds} s): it expired`;
    case 'never-sent':
      return 'its message was never sent: the split was interrupted after recording the partitions';
  }
}
