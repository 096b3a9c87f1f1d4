import type { AnalyticsJobDefinition } from './jobDefinition.ts';
import type { AnalyticsJobSchedules } from './ports.ts';

/** What a sync changed. */
export interface ScheduleSync {
  readonly put: string[];
  readonly deleted: string[];
}

/**
 * Makes the schedule group match the jobs table: every job gets its schedule (enabled or
 * disabled), and schedules whose job is gone are deleted. Run by the stack on every deploy and safe
 * to run any time (each step is idempotent).
 */
export async function syncSchedules(jobs: readonly AnalyticsJobDefinition[], schedules: AnalyticsJobSchedules): Promise<ScheduleSync> {
  const wanted = new Set(jobs.map((j) => j.name));
  for (const job of jobs) await schedules.put(job);
  const deleted = (await schedules.list()).filter((name) => !wanted.has(name));
  for (const name of deleted) await schedules.remove(name);
  return { put: [...wanted], deleted };
}
