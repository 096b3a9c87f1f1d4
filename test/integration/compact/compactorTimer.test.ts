import { describe, expect, it } from 'vitest';
import { waitFor } from '../localstack/support.ts';
import { compareQueries } from '../pipeline/expected.ts';
import { registerDataset, salesCsv, usePipeline } from '../pipeline/pipeline.ts';
import { uploadSales } from '../analytics/support.ts';

// The compactor function on its local timer alone (its schedule on AWS): no pass after jobs.
const p = usePipeline('compactor-timer', { compactorIntervalMs: 1000, environment: { COMPACT_AFTER_JOB: 'false' } });

describe('the scheduled compactor', () => {
  it('compacts every dataset on its own, leaving the rollups exact', async () => {
    // Prepare
    const [a, b] = await Promise.all([registerDataset(p, salesCsv('timer-a')), registerDataset(p, salesCsv('timer-b'))]);
    const range: [number, number] = [Date.UTC(2024, 5, 1), Date.UTC(2024, 5, 9)];

    // Act
    const [ra, rb] = await Promise.all([
      uploadSales(p, a, 'uploads/timer-a/a.csv', { records: 2000, seed: 52, ranges: [range] }),
      uploadSales(p, b, 'uploads/timer-b/b.csv', { records: 2000, seed: 53, ranges: [range] }),
    ]);
    const counts = await waitFor(
      async () => {
        const [row] = await p.db.sql<{ partial: number; compacted: number }[]>`
          select (select count(*) from ${p.db.table('rollup_partials')})::int as partial,
                 (select count(distinct dataset) from ${p.db.table('rollups')})::int as compacted`;
        return row.partial === 0 && row.compacted === 2 ? row : undefined;
      },
      30_000,
      'the compactor timer to compact both datasets',
    );

    // Assess
    expect(counts).toEqual({ partial: 0, compacted: 2 });
    expect((await compareQueries(p.db, a, ra, a.rollups)).problems).toEqual([]);
    expect((await compareQueries(p.db, b, rb, b.rollups)).problems).toEqual([]);
  });
});
