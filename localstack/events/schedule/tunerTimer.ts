import { topologyFunctionPool } from '../../runtime/workerPool.ts';

/** The local stand-in for the tuner's schedule. */
export interface TunerTimer {
  stop(): Promise<void>;
}

export interface TunerTimerOptions {
  readonly stage: string;
  readonly region: string;
  readonly entry: URL;
  /** The tuner's environment, complete (its targets and TUNER_APPLY included). */
  readonly environment: Readonly<Record<string, string>>;
  /** Whether the environment lets the tuner apply its recommendations: how its log lines read. */
  readonly apply: boolean;
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

/**
 * Invokes the real tuner function (functions/tuner.ts, in a worker as a Lambda container) every
 * `intervalMs`, as its EventBridge schedule does on AWS, and logs what it recommended or applied.
 */
export function startTunerTimer(options: TunerTimerOptions): TunerTimer {
  const pool = topologyFunctionPool('tuner', {
    ...options,
  });
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = pool.invoke({}).then((outcome) => {
      if (!outcome.ok) return options.log(`tuner: ${outcome.error}`);
      const result = outcome.value as { applied: number; recommendations: { parameter: string; currentValue: number | null; recommendedValue: number | null; reason: string }[] };
      for (const r of result.recommendations.filter((r) => r.recommendedValue !== r.currentValue)) {
        options.log(`tuner ${options.apply ? 'applied' : 'recommends (dry run)'}: ${r.parameter} ${r.currentValue} → ${r.recommendedValue}: ${r.reason}`);
      }
    });
  }, options.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running.catch(() => {});
      await pool.close();
    },
  };
}
