import type { Command } from 'commander';
import { table } from './report.ts';
import type { RunOperations } from './runner.ts';

/** Adds `tune [--apply] [--json]`: a dry run unless --apply. */
export function addTuneCommand(program: Command, run: RunOperations): void {
  program
    .command('tune')
    .description("recommend the processor's batch size, concurrency and the partition size from the metrics; --apply sets them")
    .option('--apply', 'apply the recommendations (default: dry run)')
    .option('--json', 'print [{parameter, currentValue, recommendedValue, reason, expectedImprovement}]')
    .action(async (opts: { apply?: boolean; json?: boolean }) => {
      const outcome = await run((ops) => ops.tune(!!opts.apply));
      if (opts.json) return console.log(JSON.stringify(outcome.recommendations, null, 2));
      console.log(table(outcome.recommendations.map((r) => ({ parameter: r.parameter, current: r.currentValue ?? 'none', recommended: r.recommendedValue ?? 'none', reason: r.reason }))));
      for (const b of outcome.bottlenecks) console.log(`bottleneck: ${b.component} ${b.kind}: ${b.recommendation}`);
      console.log(opts.apply ? `applied ${outcome.applied.length} change(s)` : 'dry run: nothing changed (use --apply)');
    });
}
