import type { WatchdogTimings } from '../topology.ts';
import type { Db } from './db.ts';

// The watchdog's reads: splits and partitions that nothing will try again (lib/watchdog).

/** The most of each kind one watchdog run ends; the next run takes the rest. */
const SCAN_LIMIT = 1000;

/** A job still `splitting` although no split attempt will come. */
export interface StaleSplit {
  readonly jobId: number;
  readonly key: string;
  readonly splitAttempts: number;
  /** The last attempt's start (the job's creation when none was recorded). */
  readonly since: Date;
}

/** Jobs splitting whose last attempt started longer ago than an attempt can live and a redelivery take. */
export async function staleSplits(db: Db, t: WatchdogTimings): Promise<StaleSplit[]> {
  return db.sql<StaleSplit[]>`
    select job_id as "jobId", key, split_attempts as "splitAttempts", coalesce(split_started_at, created_at) as since
    from ${db.table('batch_jobs')}
    where status = 'splitting' and (
      coalesce(split_started_at, created_at) < now() - make_interval(secs => ${t.splitStaleSeconds})
      or (split_attempts >= ${t.ingestMaxReceives} and split_started_at < now() - make_interval(secs => ${t.splitLastAttemptStaleSeconds})))
    order by job_id limit ${SCAN_LIMIT}`;
}

/** Why a partition is stale: the watchdog's reason for failing it. */
export type Staleness = 'no-attempt-since' | 'expired' | 'never-sent';

/** A partition of a processing job that no attempt will reach. */
export interface StalePartition {
  readonly jobId: number;
  readonly idx: number;
  readonly attempts: number;
  readonly startedAt: Date | null;
  readonly enqueuedAt: Date | null;
  readonly staleness: Staleness;
}

/**
 * Unfinished partitions of processing jobs that nothing will try again: an attempt started and
 * none followed in time (its message dead-lettered or is about to); sent but never received within
 * the queue's retention (expired); never sent although the split finished long enough ago for its
 * notification's redelivery to have re-sent it.
 */
export async function stalePartitions(db: Db, t: WatchdogTimings): Promise<StalePartition[]> {
  return db.sql<StalePartition[]>`
    select * from (
      select p.job_id as "jobId", p.idx, p.attempts, p.started_at as "startedAt", p.enqueued_at as "enqueuedAt",
        case
          when p.started_at is not null and (
            p.started_at < now() - make_interval(secs => ${t.partitionStaleSeconds})
            or (p.attempts >= ${t.partitionMaxReceives} and p.started_at < now() - make_interval(secs => ${t.partitionLastAttemptStaleSeconds})))
            then 'no-attempt-since'
          when p.started_at is null and p.enqueued_at < now() - make_interval(secs => ${t.partitionExpirySeconds}) then 'expired'
          when p.enqueued_at is null and j.split_finished_at < now() - make_interval(secs => ${t.splitStaleSeconds}) then 'never-sent'
        end as staleness
      from ${db.table('batch_partitions')} p join ${db.table('batch_jobs')} j using (job_id)
      where j.status = 'processing' and p.status in ('pending', 'processing')
    ) s
    where staleness is not null
    order by "jobId", idx limit ${SCAN_LIMIT}`;
}
