import { describe, expect, it } from 'vitest';
import { waitFor } from '../localstack/support.ts';
import { compareQueries } from '../pipeline/expected.ts';
import { registerDataset, salesCsv, usePipeline } from '../pipeline/pipeline.ts';
import { uploadSales } from '../analytics/support.ts';

// The processor's pass after each job, as deployed (COMPACT_AFTER_JOB defaults to true).
const p = usePipeline('compact-after-job');

describe('the processor that finishes a job', () => {
  it('compacts what the job appended, leaving the rollups exact', async () => {
    // Prepare
    const def = await registerDataset(p, salesCsv('after'));

    // Act
    const records = await uploadSales(p, def, 'uploads/after/a.csv', { records: 3000, seed: 51, ranges: [[Date.UTC(2024, 4, 1), Date.UTC(2024, 4, 20)]] });
    const compacted = await waitFor(
      async () => {
        const [row] = await p.db.sql<{ partial: number; compacted: number }[]>`
          select (select count(*) from ${p.db.table('rollup_partials')} where dataset = 'after')::int as partial,
                 (select count(*) from ${p.db.table('rollups')} where dataset = 'after')::int as compacted`;
        return row.partial === 0 && row.compacted > 0 ? row : undefined;
      },
      30_000,
      'the partial rows of the job to be compacted',
    );

    // Assess
    expect(compacted.compacted).toBeGreaterThan(0);
    expect((await compareQueries(p.db, def, records, def.rollups)).problems).toEqual([]);
  });
});
