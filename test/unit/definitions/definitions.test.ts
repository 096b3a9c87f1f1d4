import { describe, expect, it } from 'vitest';
import { parseDatasetDefinition } from '../../../lib/datasets/definition.ts';
import { DefinitionsError, parseDefinitions } from '../../../lib/definitions/definitions.ts';

const dataset = { name: 'sales', format: 'csv', timeColumn: 'ts', granularity: '1-hour', dimensions: ['region'], metrics: ['amount'] };
const job = {
  name: 'daily',
  schedule: 'EVERYDAY8AMET',
  dataset: 'sales',
  entity: 'region',
  granularity: '1-day',
  delayHours: 0,
  filter: null,
  metrics: [{ metric: 'amount', aggregations: ['sum'] }],
};
const file = (path: string, value: unknown) => ({ path, text: typeof value === 'string' ? value : JSON.stringify(value) });

/** The problems a set of files is rejected with. */
function problems(files: Parameters<typeof parseDefinitions>[0], known?: Parameters<typeof parseDefinitions>[1]): readonly string[] {
  try {
    parseDefinitions(files, known);
  } catch (err) {
    if (err instanceof DefinitionsError) return err.problems;
    throw err;
  }
  return [];
}

describe('parseDefinitions', () => {
  it('reads datasets and the jobs that use them, a job may use a dataset already stored', () => {
    // Prepare
    const stored = new Map([['orders', parseDatasetDefinition({ ...dataset, name: 'orders' })]]);

    // Act
    const parsed = parseDefinitions(
      { datasets: [file('datasets/sales.json', dataset)], jobs: [file('jobs/daily.json', job), file('jobs/orders.json', { ...job, name: 'orders-daily', dataset: 'orders' })] },
      stored,
    );

    // Assess
    expect(parsed.datasets.map((d) => d.name)).toEqual(['sales']);
    expect(parsed.jobs.map((j) => [j.name, j.dataset])).toEqual([['daily', 'sales'], ['orders-daily', 'orders']]);
  });

  it('names the file and the field of every problem, all at once', () => {
    // Prepare
    const files = {
      datasets: [file('datasets/broken.json', '{ "name": '), file('datasets/bad.json', { ...dataset, name: 'bad', format: 'xml' }), file('datasets/sales.json', dataset)],
      jobs: [
        file('jobs/nodata.json', { ...job, dataset: 'missing' }),
        file('jobs/badcron.json', { ...job, name: 'badcron', schedule: '61 * * * *' }),
        file('jobs/badentity.json', { ...job, name: 'badentity', entity: 'colour' }),
      ],
    };

    // Act
    const found = problems(files);

    // Assess
    expect(found).toHaveLength(5);
    expect(found[0]).toMatch(/^datasets\/broken\.json: not JSON/);
    expect(found[1]).toMatch(/^datasets\/bad\.json: format/);
    expect(found[2]).toBe('jobs/nodata.json: dataset: no dataset named "missing"');
    expect(found[3]).toMatch(/^jobs\/badcron\.json: schedule: /);
    expect(found[4]).toMatch(/^jobs\/badentity\.json: entity/);
  });

  it('refuses a name defined twice', () => {
    // Prepare
    const files = { datasets: [file('datasets/a.json', dataset), file('datasets/b.json', dataset)], jobs: [file('jobs/a.json', job), file('jobs/b.json', job)] };

    // Act
    const found = problems(files);

    // Assess
    expect(found).toEqual(['datasets/b.json: dataset "sales" is defined twice', 'jobs/b.json: job "daily" is defined twice']);
  });
});
