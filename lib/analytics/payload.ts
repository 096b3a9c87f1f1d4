import { BatchflowError } from '../errors.ts';

/** A schedule payload that names no job. */
export class SchedulePayloadError extends BatchflowError {
  override name = 'SchedulePayloadError';
}

/**
 * Reads what a schedule sends the analytics function: `{ job, scheduledTime? }`. EventBridge
 * Scheduler fills `scheduledTime` from `<aws.scheduler.scheduled-time>`, so a delayed or retried
 * invocation still computes the window of the time it was scheduled for; without it, `now`.
 */
export function parseSchedulePayload(event: unknown, now: Date): { job: string; scheduledTime: Date } {
  const e = (event ?? {}) as { job?: unknown; scheduledTime?: unknown };
  if (typeof e.job !== 'string' || e.job.length === 0) {
    throw new SchedulePayloadError(`schedule payload must be {"job": "<name>", "scheduledTime"?: ISO}: got ${JSON.stringify(event)?.slice(0, 200)}`);
  }
  if (e.scheduledTime === undefined) return { job: e.job, scheduledTime: now };
  const t = new Date(String(e.scheduledTime));
  if (Number.isNaN(t.getTime())) throw new SchedulePayloadError(`scheduledTime "${String(e.scheduledTime)}" is not an ISO time`);
  return { job: e.job, scheduledTime: t };
}
