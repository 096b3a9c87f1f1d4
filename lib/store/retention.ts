import type { Db } from './db.ts';

/** The kinds of history retention deletes (see lib/retention). */
export type ExpiredKind = 'performanceMetrics' | 'rejectedRecords' | 'analyticsRuns' | 'finishedJobs' | 'resourceUsage';

// A job that is still running is never touched: only these have a finished_at that ends them.
const FINISHED = ['completed', 'completed_with_rejects', 'completed_with_failures', 'failed', 'stopped'];

/**
 * Deletes at most `limit` rows of one kind that are older than `before`; returns how many it
 * deleted. Each call is one short statement over a bounded set of keys.
 */
export async function deleteExpired(db: Db, kind: ExpiredKind, before: Date, limit: number): Promise<number> {
  const { sql } = db;
  switch (kind) {
    case 'performanceMetrics': {
      const r = await sql`
        delete from ${db.table('performance_metrics')} where id in (
          select id from ${db.table('performance_metrics')} where recorded_at < ${before} limit ${limit})`;
      return r.count;
    }
    case 'rejectedRecords': {
      const r = await sql`
        delete from ${db.table('rejected_records')} r using (
          select x.job_id, x.partition_idx, x.seq from ${db.table('rejected_records')} x
          join ${db.table('batch_jobs')} j using (job_id)
          where j.status in ${sql(FINISHED)} and j.finished_at < ${before} limit ${limit}) old
        where r.job_id = old.job_id and r.partition_idx = old.partition_idx and r.seq = old.seq`;
      return r.count;
    }
    case 'analyticsRuns': {
      const r = await sql`
        delete from ${db.table('analytics_runs')} where run_id in (
          select run_id from ${db.table('analytics_runs')} where started_at < ${before} and status <> 'running' limit ${limit})`;
      return r.count;
    }
    case 'resourceUsage': {
      const r = await sql`
        delete from ${db.table('resource_usage')} where id in (
          select id from ${db.table('resource_usage')} where started_at < ${before} limit ${limit})`;
      return r.count;
    }
    case 'finishedJobs': {
      // Partitions, rejects and metrics go with the job (foreign keys on delete cascade). A job
      // opened through the API and never started (`created`: nothing read, nothing merged) is
      // abandoned once it has waited as long as a finished job is kept.
      const r = await sql`
        delete from ${db.table('batch_jobs')} where job_id in (
          select job_id from ${db.table('batch_jobs')}
          where (status in ${sql(FINISHED)} and finished_at < ${before}) or (status = 'created' and created_at < ${before})
          limit ${limit})`;
      return r.count;
    }
  }
}
