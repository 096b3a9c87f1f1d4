import { JobDefinitionError, parseAnalyticsJobDefinition, type AnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import { planAnalyticsJob, type AnalyticsJobPlan } from '../analytics/rollupPlan.ts';
import { parseSchedule, type Schedule } from '../analytics/schedule.ts';
import { DatasetDefinitionError, parseDatasetDefinition, type DatasetDefinition } from '../datasets/definition.ts';
import { BatchflowError } from '../errors.ts';

/** A definition file as read: where it came from and its text. */
export interface DefinitionFile {
  readonly path: string;
  readonly text: string;
}

/** The definitions a deployment carries: datasets first, then the jobs that read them. */
export interface Definitions {
  readonly datasets: readonly DatasetDefinition[];
  readonly jobs: readonly AnalyticsJobDefinition[];
}

/** Every problem in a set of definition files, each prefixed with its file. */
export class DefinitionsError extends BatchflowError {
  override name = 'DefinitionsError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid definitions: ${problems.join('; ')}`);
  }
}

/**
 * Checks that a job can run against its dataset: its schedule parses and its entity, metrics,
 * filter and granularity fit the dataset (planAnalyticsJob). Throws JobDefinitionError naming the field.
 */
export function checkAnalyticsJob(job: AnalyticsJobDefinition, dataset: DatasetDefinition | undefined): { schedule: Schedule; plan: AnalyticsJobPlan } {
  let schedule: Schedule;
  try {
    schedule = parseSchedule(job.schedule, job.timezone);
  } catch (err) {
    throw new JobDefinitionError([`schedule: ${(err as Error).message}`]);
  }
  if (!dataset) throw new JobDefinitionError([`dataset: no dataset named "${job.dataset}"`]);
  return { schedule, plan: planAnalyticsJob(job, dataset) };
}

/**
 * Parses dataset and job files into definitions, checking each job against its dataset (from the
 * files, else from `known`, the datasets already stored). Collects every problem before failing,
 * so one deploy reports them all; names must be unique across files.
 */
export function parseDefinitions(
  files: { datasets: readonly DefinitionFile[]; jobs: readonly DefinitionFile[] },
  known: ReadonlyMap<string, DatasetDefinition> = new Map(),
): Definitions {
  const problems: string[] = [];
  const datasets = new Map<string, DatasetDefinition>();
  for (const file of files.datasets) {
    const def = parseFile(file, parseDatasetDefinition, problems);
    if (!def) continue;
    if (datasets.has(def.name)) problems.push(`${file.path}: dataset "${def.name}" is defined twice`);
    datasets.set(def.name, def);
  }
  const jobs = new Map<string, AnalyticsJobDefinition>();
  for (const file of files.jobs) {
    const job = parseFile(file, parseAnalyticsJobDefinition, problems);
    if (!job) continue;
    if (jobs.has(job.name)) problems.push(`${file.path}: job "${job.name}" is defined twice`);
    try {
      checkAnalyticsJob(job, datasets.get(job.dataset) ?? known.get(job.dataset));
      jobs.set(job.name, job);
    } catch (err) {
      if (!(err instanceof JobDefinitionError)) throw err;
      problems.push(`${file.path}: ${err.problems.join('; ')}`);
    }
  }
  if (problems.length > 0) throw new DefinitionsError(problems);
  return { datasets: [...datasets.values()], jobs: [...jobs.values()] };
}

function parseFile<T>(file: DefinitionFile, parse: (input: unknown) => T, problems: string[]): T | undefined {
  let input: unknown;
  try {
    input = JSON.parse(file.text);
  } catch (err) {
    problems.push(`${file.path}: not JSON: ${(err as Error).message}`);
    return undefined;
  }
  try {
    return parse(input);
  } catch (err) {
    if (err instanceof DatasetDefinitionError || err instanceof JobDefinitionError) {
      problems.push(`${file.path}: ${err.problems.join('; ')}`);
      return undefined;
    }
    throw err;
  }
}
