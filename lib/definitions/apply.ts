import { putAnalyticsJob } from '../store/analytics.ts';
import { definitionChange } from '../datasets/change.ts';
import { DatasetChangeRefusedError, datasetHasData, listDatasets, putDataset } from '../store/datasets.ts';
import type { Db } from '../store/db.ts';
import { parseDefinitions, type DefinitionFile } from './definitions.ts';

/**
 * Creates or replaces the datasets and jobs of a set of definition files (run on deploy, so a
 * deployed stack's definitions live in the repository next to the code). Nothing is deleted:
 * a dataset holds data, and removing one, or a job, stays a deliberate `batchflow ... delete`.
 * Everything is checked before anything is written, so a bad file, or a change a loaded dataset
 * cannot take (see definitionChange), changes nothing.
 */
export async function applyDefinitions(
  db: Db,
  files: { datasets: readonly DefinitionFile[]; jobs: readonly DefinitionFile[] },
): Promise<{ datasets: string[]; jobs: string[] }> {
  const known = new Map((await listDatasets(db)).map((d) => [d.name, d]));
  const definitions = parseDefinitions(files, known);
  for (const dataset of definitions.datasets) {
    const previous = known.get(dataset.name);
    const { refused } = previous ? definitionChange(previous, dataset) : { refused: [] };
    if (refused.length > 0 && (await datasetHasData(db, dataset.name))) throw new DatasetChangeRefusedError(dataset.name, refused);
  }
  for (const dataset of definitions.datasets) await putDataset(db, dataset);
  for (const job of definitions.jobs) await putAnalyticsJob(db, job);
  return { datasets: definitions.datasets.map((d) => d.name), jobs: definitions.jobs.map((j) => j.name) };
}
