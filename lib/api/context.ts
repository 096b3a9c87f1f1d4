import type { AnalyticsJobSchedules } from '../analytics/ports.ts';
import type { RecoveryContext } from '../recovery/recovery.ts';
import type { SubmitContext } from '../split/submitObject.ts';
import type { TunerContext } from '../tune/runTuner.ts';

/**
 * What the API's routes reach, built once by functions/api.ts: the database and the partition
 * queue (recovery), HEAD on the upload bucket and the ingest queue (jobs it opens and starts), the
 * splitter's partition limits, on AWS the analytics schedules (none locally, where the runtime
 * fires jobs from the table), and the tuner's context for the tuning routes (operations.ts).
 */
export interface ApiContext extends RecoveryContext, SubmitContext {
  /** The splitter's longest record: a job's partitionBytes must exceed twice it (planByteRanges). */
  readonly maxRecordBytes: number;
  readonly schedules: AnalyticsJobSchedules | undefined;
  /** Absent where no tuner targets are configured (then the tuning routes answer 404). */
  readonly tuner?: TunerContext;
}
