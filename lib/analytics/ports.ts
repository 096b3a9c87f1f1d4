import type { AnalyticsJobDefinition } from './jobDefinition.ts';

/** What analytics needs from the outside world, implemented by lib/adapters/. */

/** Keeps one EventBridge Scheduler schedule per job. */
export interface AnalyticsJobSchedules {
  /** Creates or updates the job's schedule (disabled jobs keep a DISABLED schedule). */
  put(job: AnalyticsJobDefinition): Promise<void>;
  /** Deletes the job's schedule; a missing one is fine. */
  remove(name: string): Promise<void>;
  /** Names of every schedule in the group. */
  list(): Promise<string[]>;
}
