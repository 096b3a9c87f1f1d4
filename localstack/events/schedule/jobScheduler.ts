import { fireTimesBetween, parseSchedule } from '../../../lib/analytics/schedule.ts';
import { listAnalyticsJobs } from '../../../lib/store/analytics.ts';
import { connectDb } from '../../../lib/store/db.ts';
import { topologyFunctionPool, type InvocationOutcome } from '../../runtime/workerPool.ts';

/** The local stand-in for EventBridge Scheduler. */
export interface LocalScheduler {
  /** Fire times sent so far, for logs and tests. */
  readonly fired: readonly { job: string; scheduledTime: Date; outcome: InvocationOutcome }[];
  stop(): Promise<void>;
}

export interface LocalSchedulerOptions {
  readonly stage: string;
  readonly databaseUrl: string;
  readonly databaseSchema: string;
  readonly region: string;
  readonly entry: URL;
  /** The analytics function's environment, complete. */
  readonly environment: Readonly<Record<string, string>>;
  /** How often the job list is read and due fire times sent. @default 5_000 */
  readonly tickMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * Plays EventBridge Scheduler locally: every tick, reads the enabled jobs and invokes the analytics
 * function (in a worker, as a Lambda container) once per fire time that passed since the last tick,
 * with `{ job, scheduledTime }` — the payload the stack's schedules send. Fire times missed while
 * the runtime was down are not replayed here: each run catches up its job's missed windows itself.
 */
export function startLocalScheduler(options: LocalSchedulerOptions): LocalScheduler {
  const pool = topologyFunctionPool('analytics', options);
  const db = connectDb({ url: options.databaseUrl, schema: options.databaseSchema, max: 1 });
  const log = options.log ?? (() => {});
  const fired: { job: string; scheduledTime: Date; outcome: InvocationOutcome }[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let last = new Date();
  let stopped = false;

  const tick = async () => {
    const now = new Date();
    const jobs = await listAnalyticsJobs(db);
    for (const { definition: job } of jobs) {
      if (!job.enabled) continue;
      let times: Date[];
      try {
        times = fireTimesBetween(parseSchedule(job.schedule, job.timezone), last, now, 100);
      } catch (err) {
        log(`job ${job.name}: ${(err as Error).message}`);
        continue;
      }
      for (const scheduledTime of times) {
        const run = pool.invoke({ job: job.name, scheduledTime: scheduledTime.toISOString() }).then((outcome) => {
          fired.push({ job: job.name, scheduledTime, outcome });
          if (!outcome.ok) log(`job ${job.name} at ${scheduledTime.toISOString()}: ${outcome.error}`);
        });
        inFlight.add(run);
        void run.finally(() => inFlight.delete(run));
      }
    }
    last = now;
  };

  const timer = setInterval(() => {
    if (!stopped) tick().catch((err) => log(`scheduler: ${(err as Error).message}`));
  }, options.tickMs ?? 5_000);

  return {
    fired,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
      await pool.close();
      await db.close();
    },
  };
}
