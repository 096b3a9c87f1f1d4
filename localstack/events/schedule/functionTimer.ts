import type { ScheduledFunctionName } from '../../../lib/topology.ts';
import { topologyFunctionPool } from '../../runtime/workerPool.ts';

/** The local stand-in for a scheduled function's `rate(...)` schedule. */
export interface FunctionTimer {
  stop(): Promise<void>;
}

export interface FunctionTimerOptions {
  readonly name: Exclude<ScheduledFunctionName, 'analytics'>;
  readonly stage: string;
  readonly region: string;
  readonly entry: URL;
  /** The function's environment, complete. */
  readonly environment: Readonly<Record<string, string>>;
  readonly intervalMs: number;
  /** Log lines for one run's result (what it recommended, applied or ended), each naming the function. */
  readonly describe: (result: unknown) => readonly string[];
  readonly log: (line: string) => void;
}

/**
 * Invokes a real scheduled function (functions/tuner.ts, functions/watchdog.ts, in a worker as a
 * Lambda container) every `intervalMs`, as its EventBridge schedule does on AWS, one run at a
 * time, and logs what `describe` makes of each result. (Analytics jobs have their own scheduler:
 * one schedule per job, with fire times.)
 */
export function startFunctionTimer(options: FunctionTimerOptions): FunctionTimer {
  const pool = topologyFunctionPool(options.name, options);
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    // A run longer than the interval is not overlapped (the functions' reserved concurrency is 1).
    if (busy) return;
    busy = true;
    running = pool
      .invoke({})
      .then((outcome) => {
        if (!outcome.ok) return options.log(`${options.name}: ${outcome.error}`);
        for (const line of options.describe(outcome.value)) options.log(line);
      })
      .finally(() => (busy = false));
  }, options.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running.catch(() => {});
      await pool.close();
    },
  };
}

/** The tuner's log lines: each recommendation that would change something. */
export function describeTunerRun(apply: boolean) {
  return (result: unknown): string[] => {
    const { recommendations } = result as { recommendations: { parameter: string; currentValue: number | null; recommendedValue: number | null; reason: string }[] };
    return recommendations
      .filter((r) => r.recommendedValue !== r.currentValue)
      .map((r) => `tuner ${apply ? 'applied' : 'recommends (dry run)'}: ${r.parameter} ${r.currentValue} → ${r.recommendedValue}: ${r.reason}`);
  };
}

/** The watchdog's log lines: each split and partition it ended. */
export function describeWatchdogRun(result: unknown): string[] {
  const r = result as { splitsFailed: { jobId: number; reason: string }[]; partitionsFailed: { jobId: number; idx: number; reason: string }[] };
  return [
    ...r.splitsFailed.map((s) => `watchdog failed the split of job ${s.jobId}: ${s.reason}`),
    ...r.partitionsFailed.map((p) => `watchdog failed partition ${p.jobId}-${p.idx}: ${p.reason}`),
  ];
}

/** The compactor's log line, when it moved anything. */
export function describeCompactorRun(result: unknown): string[] {
  const r = result as { shards: number; partialRows: number; cells: number; remaining: number };
  if (r.shards === 0) return [];
  return [`compactor merged ${r.partialRows} partial rows into ${r.cells} cells (${r.shards} shards${r.remaining > 0 ? `, ${r.remaining} left for the next run` : ''})`];
}

/** The retention pass's log line, when it deleted anything. */
export function describeRetentionRun(result: unknown): string[] {
  const r = result as { deleted: Record<string, number>; complete: boolean };
  const parts = Object.entries(r.deleted).filter(([, n]) => n > 0).map(([kind, n]) => `${n} ${kind}`);
  if (parts.length === 0) return [];
  return [`retention deleted ${parts.join(', ')}${r.complete ? '' : ' (more left for the next run)'}`];
}
