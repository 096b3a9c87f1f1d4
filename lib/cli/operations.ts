import type { RedriveOutcome } from '../adapters/deadLetters.ts';
import type { StoredAnalyticsJob } from '../store/analytics.ts';
import type { DatasetDefinition } from '../datasets/definition.ts';
import type { RollupQuery, RollupRow } from '../query/queryRollups.ts';
import type { IngestJob } from '../store/ingestJobs.ts';
import type { LocatedReject } from '../store/rejects.ts';
import type { Bottleneck } from '../tune/bottlenecks.ts';
import type { Recommendation } from '../tune/signals.ts';
import type { IngestJobSummary, resultJson } from '../views.ts';
import type { Target } from './target.ts';

/**
 * The CLI's command port: what each command asks of a stack, answered in the same shapes whether
 * the CLI reaches the stack's database and AWS resources itself (directOperations.ts) or goes
 * through its HTTP API (apiOperations.ts). Commands print; operations fetch and change.
 */
export interface BatchflowOperations {
  readonly target: Target;
  /** The applied migration versions; `deployed` when the stack migrates itself (the API target). */
  migrate(): Promise<{ readonly applied: readonly number[] } | { readonly deployed: true }>;

  putDataset(def: DatasetDefinition): Promise<{ readonly created: boolean; readonly newDataOnly: readonly string[] }>;
  deleteDataset(name: string, force: boolean): Promise<DatasetDeleted>;
  listDatasets(): Promise<DatasetDefinition[]>;

  /** Puts a file in the stack's bucket under `key`; the dataset must exist. */
  upload(file: string, dataset: string, key: string): Promise<UploadedObject>;
  /** The job of an uploaded object, once the splitter has opened it. */
  findJobOf(object: UploadedObject): Promise<IngestJob | undefined>;

  query(dataset: string, q: RollupQuery): Promise<RollupRow[]>;
  /** The most recent ingestion jobs, newest first. */
  listJobs(limit: number): Promise<ListedJob[]>;
  /** One job with its failed partitions (at most 20): what `retry` would re-send. */
  jobDetail(jobId: number): Promise<{ readonly job: IngestJob; readonly failedPartitions: readonly FailedPartition[] }>;
  rejects(jobId: number, limit: number): Promise<LocatedReject[]>;

  /** Validates, stores and schedules an analytics job definition; the line saying what was saved. */
  putAnalyticsJob(definition: unknown, source: string): Promise<string>;
  listAnalyticsJobs(): Promise<StoredAnalyticsJob[]>;
  /** False when there was no such job. */
  deleteAnalyticsJob(name: string): Promise<boolean>;
  runAnalyticsJob(name: string, at: Date | undefined): Promise<AnalyticsRun>;
  results(job: string, range: { readonly from?: Date; readonly to?: Date }): Promise<ResultJson[]>;

  tune(apply: boolean): Promise<TuneOutcome>;

  stop(jobId: number): Promise<IngestJob>;
  restart(jobId: number): Promise<Recovered>;
  retry(jobId: number, partition: number | undefined): Promise<Recovered>;
  redrive(queue: 'ingest' | 'partitions'): Promise<RedriveOutcome>;
}

export interface UploadedObject {
  readonly bucket: string;
  readonly key: string;
}

export interface DatasetDeleted {
  readonly ingestJobs: number;
  readonly aggregateRows: number;
  /** The analytics jobs deleted with it (`--force`). */
  readonly analyticsJobs: readonly string[];
}

/** A job in `status`: its summary (what `--json` prints) and what the table adds. */
export interface ListedJob {
  readonly summary: IngestJobSummary;
  readonly dataset: string | null;
  readonly key: string;
  readonly partitionsDone: number;
}

export interface FailedPartition {
  readonly idx: number;
  readonly attempts: number;
  readonly error: string | null;
}

export type ResultJson = ReturnType<typeof resultJson>;

export interface AnalyticsRun {
  readonly windows: readonly { readonly start: Date; readonly end: Date }[];
  readonly rows: readonly ResultJson[];
  readonly durationMs: number;
}

export interface TuneOutcome {
  readonly recommendations: readonly Recommendation[];
  readonly bottlenecks: readonly Pick<Bottleneck, 'component' | 'kind' | 'recommendation'>[];
  readonly applied: readonly Recommendation[];
}

export interface Recovered {
  readonly job: IngestJob;
  readonly resent: number;
}
