import { BatchflowError } from '../errors.ts';
import { sendUnsentPartitions } from '../split/sendPartitions.ts';
import type { PartitionQueue } from '../split/ports.ts';
import type { Db } from '../store/db.ts';
import { getIngestJob, type IngestJob } from '../store/ingestJobs.ts';
import { reopenForRestart, reopenForRetry, stopJob, type Refusal } from '../store/recovery.ts';

/** A recovery step the job's or partition's state does not allow (`conflict`), or an unknown id. */
export class RecoveryRefused extends BatchflowError {
  override name = 'RecoveryRefused';
  constructor(
    readonly refused: Refusal['refused'],
    message: string,
  ) {
    super(message);
  }
}

/** What recovery needs: the database and the partition queue it re-sends to. */
export interface RecoveryContext {
  readonly db: Db;
  readonly queue: PartitionQueue;
}

/** A job after a recovery step, and how many partition messages it sent. */
export interface Recovered {
  readonly job: IngestJob;
  readonly resent: number;
}

function orRefuse<T extends { refused?: undefined }>(result: Refusal | T): T {
  if (result.refused) throw new RecoveryRefused(result.refused, result.message);
  return result as T;
}

/** `batchflow stop`: the job ends `stopped`; its pending partitions are skipped when their messages arrive. */
export async function stopIngestJob(db: Db, jobId: number): Promise<IngestJob> {
  return orRefuse(await stopJob(db, jobId)).job;
}

/** `batchflow restart`: a failed, stopped or completed-with-failures job re-runs every partition not completed. */
export async function restartIngestJob(ctx: RecoveryContext, jobId: number): Promise<Recovered> {
  orRefuse(await reopenForRestart(ctx.db, jobId));
  return resend(ctx, jobId);
}

/**
 * `batchflow retry`: re-sends a job's failed partitions, or one of them. Exactly once still: a
 * partition completed in the meantime is skipped by its processor, and a merge locks its partition.
 */
export async function retryPartitions(ctx: RecoveryContext, jobId: number, idx?: number): Promise<Recovered> {
  orRefuse(await reopenForRetry(ctx.db, jobId, idx));
  return resend(ctx, jobId);
}

async function resend(ctx: RecoveryContext, jobId: number): Promise<Recovered> {
  const resent = await sendUnsentPartitions(ctx, jobId);
  return { job: (await getIngestJob(ctx.db, jobId))!, resent };
}
