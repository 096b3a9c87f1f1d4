import { csvOptionsOf, type DatasetDefinition } from '../datasets/definition.ts';
import { dialectOf } from '../parse/dialect.ts';
import { BatchflowError, PartitionNotRecordedError } from '../errors.ts';
import { createRecordReader } from '../parse/reader.ts';
import { ParquetFileError, parquetColumns, readParquetFooter } from '../parse/parquetFooter.ts';
import { readParquetRowGroups, type ParquetPartition } from '../parse/parquetReader.ts';
import type { ReaderStats } from '../parse/readerTypes.ts';
import type { RecordLayout, RecordSink, RejectedRecord } from '../parse/sink.ts';
import { createRollupAggregator } from '../rollup/aggregator.ts';
import { BUCKET_ORIGIN_MS, parseGranularity } from '../rollup/granularity.ts';
import { storableText, timeRange } from '../parse/values.ts';
import { MAX_RAW_CHARS } from '../parse/sink.ts';
import type { Db } from '../store/db.ts';
import { getIngestJobState, ingestJobDeleted, type IngestJobState } from '../store/ingestJobs.ts';
import { beginAttempt, completePartition, failPartition, getPartition, releaseAttempt, type Partition, type PartitionResult } from '../store/partitions.ts';
import { createTranscoder, unitBytes } from '../parse/transcode.ts';
import { findRecordStart, ownRecordsStart, type BoundaryOptions, type RangeRead } from './boundary.ts';
import type { JobDefinitions } from './definitionCache.ts';
import { PartitionMessageError, type PartitionMessage } from './partitionMessage.ts';
import { fromUnits, toUnits, unitBoundaryOptions, unitRangeRead } from './utf16Units.ts';
import type { PartitionStats } from './partitionStats.ts';
import { ObjectChangedError, pinOf, type ObjectPin, type ObjectReader } from './ports.ts';

/** A reason is a sentence naming a field and quoting at most 200 characters of its value. */
const MAX_REASON_CHARS = 1000;

/** A partition whose job or dataset was deleted after the partition was sent. */
export class IngestJobGoneError extends BatchflowError {
  override name = 'IngestJobGoneError';
}

/** What processing needs from the outside world. */
export interface ProcessContext {
  readonly db: Db;
  readonly objects: ObjectReader;
  readonly maxRecordBytes: number;
  /** Rejects stored per partition (rejected_records); every reject is counted either way. */
  readonly maxStoredRejects: number;
  /** Cells the aggregator holds before they are appended as partial rows (DEFAULTS.partialFlushCells). */
  readonly flushCells: number;
  /** The definitions jobs run with (their snapshots), kept per container: cachedJobDefinitions. */
  readonly definitions: JobDefinitions;
}

/** The outcome of one partition message. */
export interface PartitionOutcome {
  readonly jobId: number;
  readonly idx: number;
  /**
   * `duplicate`: the partition was already merged (a redelivery); nothing was counted again.
   * `skipped`: its job was stopped (the partition stays pending for `restart`), deleted, or failed on
   * its reject threshold (restart re-runs it whole).
   * `object-changed`: the version the job pinned (or a staged part) is gone; the partition failed,
   * naming it, since no retry can bring it back.
   */
  readonly status: 'merged' | 'duplicate' | 'skipped' | 'object-changed';
  readonly reason?: string;
  /** This partition's commit ended its job: time to compact what the job appended to its dataset. */
  readonly jobFinished?: boolean;
  readonly dataset?: string;
  readonly stats?: PartitionStats & { readonly lockWaitMs: number; readonly rowsMerged: number; readonly partitionMs: number };
}

/**
 * Processes one partition exactly once: reads its byte range (moving both ends to record
 * boundaries, so neighbouring partitions share no record), parses and aggregates it in memory, then
 * merges the aggregates and marks the partition complete in one transaction. A partition already
 * complete is skipped — before reading when possible, and again under the row lock, so concurrent
 * duplicates cannot both count.
 */
export async function processPartition(ctx: ProcessContext, message: PartitionMessage): Promise<PartitionOutcome> {
  const { jobId, idx } = message;
  const partition = await getPartition(ctx.db, jobId, idx);
  if (!partition) {
    // A job deleted with its dataset (batchflow datasets delete --force) leaves its in-flight
    // messages no work; any other unrecorded partition is an error SQS should redeliver.
    if (await ingestJobDeleted(ctx.db, jobId)) return { jobId, idx, status: 'skipped', reason: `job ${jobId} was deleted` };
    throw new PartitionNotRecordedError(`partition ${jobId}/${idx} is not recorded (message ${JSON.stringify(message)})`);
  }
  if (partition.status === 'completed') return { jobId, idx, status: 'duplicate' };
  const job = await getIngestJobState(ctx.db, jobId);
  // The job's snapshot, read once per job per container: every partition parses and aggregates
  // with the definition the job opened with, whatever was put since.
  const dataset = job ? await ctx.definitions.get(jobId) : undefined;
  if (!job || !dataset) throw new IngestJobGoneError(`partition ${jobId}/${idx}: job or its dataset is gone`);

  if (message.rowGroups && (message.rowGroups[0] !== partition.rowGroupStart || message.rowGroups[1] !== partition.rowGroupEnd)) {
    throw new PartitionMessageError(
      `partition ${jobId}/${idx}: the message's row groups [${message.rowGroups.join(', ')}) are not the recorded [${partition.rowGroupStart}, ${partition.rowGroupEnd})`,
    );
  }
  const attempt = await beginAttempt(ctx.db, jobId, idx);
  if (attempt.kind === 'duplicate') return { jobId, idx, status: 'duplicate' };
  if (attempt.kind === 'stopped') return { jobId, idx, status: 'skipped', reason: `job ${jobId} was stopped` };
  if (attempt.kind === 'failedOnRejects') return { jobId, idx, status: 'skipped', reason: `job ${jobId} failed on its reject threshold (batchflow restart ${jobId} re-runs it)` };
  try {
    return await mergeOnce(ctx, job, dataset, partition);
  } catch (err) {
    const gone = err instanceof ObjectChangedError ? err.message : stagedPartGone(err, partition);
    if (gone === undefined) throw err;
    // Retrying cannot bring the bytes back: the partition fails now, what merged before stays counted.
    await failPartition(ctx.db, jobId, idx, gone);
    return { jobId, idx, status: 'object-changed', reason: gone };
  }
}

/** Which delivery of its message an attempt is, and how many the queue allows before the DLQ. */
export interface Delivery {
  readonly receiveCount: number;
  readonly maxReceives: number;
}

/**
 * Records an attempt that threw: on the last delivery the queue allows, the partition is marked
 * `failed` with the error before its message dead-letters (and its job ends if that was the last
 * unfinished partition); before that it goes back to `pending`, naming the error, for SQS to
 * retry. Best effort: when the database itself is what failed, the watchdog ends the partition later.
 */
export async function recordFailedAttempt(ctx: Pick<ProcessContext, 'db'>, message: PartitionMessage, delivery: Delivery, error: unknown): Promise<'failed' | 'pending'> {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (delivery.receiveCount >= delivery.maxReceives) {
    await failPartition(ctx.db, message.jobId, message.idx, `attempt ${delivery.receiveCount} of ${delivery.maxReceives} failed: ${text}`);
    return 'failed';
  }
  await releaseAttempt(ctx.db, message.jobId, message.idx, `attempt ${delivery.receiveCount} of ${delivery.maxReceives} failed: ${text}`);
  return 'pending';
}

/** A staged gzip part (written once by the splitter) that is no longer there: expired or deleted. */
function stagedPartGone(err: unknown, p: Partition): string | undefined {
  const name = (err as { name?: string }).name;
  if (!p.exactRange || (name !== 'NoSuchKey' && name !== 'NotFound')) return undefined;
  return `staged part ${p.sourceKey} is gone (expired or deleted): upload the object again for a new job`;
}

/**
 * Reads, parses and aggregates the partition, appending its partial rows whenever the aggregator
 * holds ctx.flushCells cells, then completes it unless a duplicate got there first (completePartition).
 */
async function mergeOnce(ctx: ProcessContext, job: IngestJobState, dataset: DatasetDefinition, partition: Partition): Promise<PartitionOutcome> {
  const { jobId, idx } = partition;
  const started = performance.now();
  const granularity = parseGranularity(dataset.granularity);
  const layout = layoutOf(job, dataset);
  // Outside the merge transaction: the boundary search, or the Parquet footer.
  const input = layout.format === 'parquet' ? await rowGroupsOf(ctx, job, partition, layout) : await alignedRange(ctx, job, dataset, partition);
  const source = { dataset: dataset.name, jobId, idx, metrics: dataset.metrics };

  let produced: PartitionResult | undefined;
  const outcome = await completePartition(ctx.db, source, async (partials) => {
    let aggregator = createRollupAggregator(dataset);
    const rejects: RejectedRecord[] = [];
    let first = Infinity;
    let last = -Infinity;
    // Appends the aggregator's groups and starts a new one: memory stays flat however many groups.
    const flush = async () => {
      const full = aggregator;
      aggregator = createRollupAggregator(dataset);
      await partials.write(
        (function* () {
          for (const g of full.groups()) {
            if (g.bucketStart < first) first = g.bucketStart;
            if (g.bucketStart > last) last = g.bucketStart;
            yield g;
          }
        })(),
      );
    };
    // The first maxStoredRejects, made storable: a wrong-delimiter file rejects every line, and a
    // reason or raw text with NUL failed the merge transaction on every retry.
    const sink: RecordSink = {
      accept: (timeMs, dims, metrics) => aggregator.add(timeMs, dims, metrics),
      reject: (r) => {
        if (rejects.length < ctx.maxStoredRejects) rejects.push({ ...r, reason: storableText(r.reason, MAX_REASON_CHARS), raw: storableText(r.raw, MAX_RAW_CHARS) });
      },
    };
    let parseMs = 0;
    let flushMs = 0;
    const flushWhenFull = async () => {
      if (aggregator.size < ctx.flushCells) return;
      const f = performance.now();
      await flush();
      flushMs += performance.now() - f;
    };
    const range = timeRange(granularity.ms, BUCKET_ORIGIN_MS);
    let counts: ReaderStats;
    let bytesRead: number;
    if ('rowGroups' in input) {
      const read = await readParquetRowGroups({ ...input, afterRowGroup: flushWhenFull }, layout, sink, { timeRange: range });
      counts = read;
      parseMs = read.parseMs;
      bytesRead = read.bytes;
    } else {
      const { start, end } = input;
      // Staged gzip parts are UTF-8 already (the splitter transcoded them); an object in another
      // encoding is read as its UTF-8 transcoding, reject offsets mapped back to the object's bytes.
      const transcoder = job.encoding === 'utf-8' || partition.exactRange ? undefined : createTranscoder(job.encoding);
      const reader = createRecordReader(layout, transcoder ? { ...sink, reject: (r) => sink.reject({ ...r, offset: start + transcoder.sourceOffset(r.offset) }) } : sink, {
        baseOffset: transcoder ? 0 : start,
        maxRecordBytes: ctx.maxRecordBytes,
        timeRange: range,
      });
      for await (const chunk of await ctx.objects.stream(job.bucket, partition.sourceKey, { start, end }, sourcePin(job, partition))) {
        const t = performance.now();
        reader.push(transcoder ? transcoder.push(chunk) : chunk);
        parseMs += performance.now() - t;
        await flushWhenFull();
      }
      const t = performance.now();
      if (transcoder) reader.push(transcoder.end());
      counts = reader.end();
      parseMs += performance.now() - t;
      // The object's bytes, not the transcoding's.
      bytesRead = transcoder ? end - start : counts.bytes;
    }
    await flush();
    const readMs = performance.now() - started - parseMs - flushMs;
    return (produced = {
      rejects,
      stats: {
        recordsRead: counts.records,
        recordsAggregated: counts.records - counts.rejected,
        recordsRejected: counts.rejected,
        lines: counts.lines,
        bytesRead,
        valuesNulled: counts.valuesNulled,
        readMs,
        parseMs,
      },
      dataRange: first <= last ? { from: new Date(first), to: new Date(last + granularity.ms) } : null,
    });
  });
  if (!outcome.merged) return { jobId, idx, status: 'duplicate' };
  return { jobId, idx, status: 'merged', jobFinished: outcome.jobFinished, dataset: dataset.name, stats: { ...produced!.stats, mergeMs: outcome.mergeMs, lockWaitMs: outcome.lockWaitMs, rowsMerged: outcome.rowsMerged, partitionMs: performance.now() - started } };
}

/** The partition's bytes, its nominal ends moved to record starts (staged parts are exact). */
async function alignedRange(ctx: ProcessContext, job: IngestJobState, dataset: DatasetDefinition, p: Partition): Promise<{ start: number; end: number }> {
  if (p.exactRange) return { start: p.rangeStart, end: p.rangeEnd };
  const pin = sourcePin(job, p);
  const read = (s: number, e: number) => ctx.objects.readRange(job.bucket, p.sourceKey, s, e, pin);
  const options = {
    format: job.format === 'ndjson' ? 'ndjson' : 'csv',
    objectSize: job.objectSize ?? 0,
    dataStart: job.dataStart,
    maxRecordBytes: ctx.maxRecordBytes,
    dialect: dialectOf(csvOptionsOf(dataset), job.lineEnd),
  } as const;
  const search = unitBytes(job.encoding) === 2 ? utf16Search(read, options, job.encoding === 'utf-16be') : bytesSearch(read, options);
  const [boundary, end] = await Promise.all([search.recordStart(p.rangeStart), search.recordStart(p.rangeEnd)]);
  const start = await search.ownRecordsStart(boundary, Math.max(boundary, end));
  return { start, end: Math.max(start, end) };
}

/**
 * A Parquet partition's row groups, with the object's footer (re-read by every partition: a
 * range request or two, cheaper than carrying it) and its columns checked as the splitter did.
 */
async function rowGroupsOf(ctx: ProcessContext, job: IngestJobState, p: Partition, layout: RecordLayout): Promise<Omit<ParquetPartition, 'afterRowGroup'>> {
  if (p.rowGroupStart === null || p.rowGroupEnd === null) throw new PartitionMessageError(`partition ${p.jobId}/${p.idx} of a Parquet job has no row groups recorded`);
  const pin = sourcePin(job, p);
  const read = (start: number, end: number) => ctx.objects.readRange(job.bucket, p.sourceKey, start, end, pin);
  const objectSize = job.objectSize ?? 0;
  const metadata = await readParquetFooter(read, objectSize);
  const { columns, problems } = parquetColumns(metadata, layout);
  // The splitter checked the same footer with the same snapshot: only a job opened before
  // snapshots were kept (migration 17), its dataset redefined since, gets here.
  if (problems.length > 0) throw new ParquetFileError(`partition ${p.jobId}/${p.idx}: ${problems.join('; ')}`);
  return { read, objectSize, metadata, columns, rowGroups: { start: p.rowGroupStart, end: p.rowGroupEnd } };
}

/** The boundary search over the object's bytes. */
function bytesSearch(read: RangeRead, options: BoundaryOptions) {
  return {
    recordStart: (at: number) => findRecordStart(read, at, options),
    ownRecordsStart: (start: number, end: number) => ownRecordsStart(read, start, end, options),
  };
}

/** The boundary search over a UTF-16 object's code units (utf16Units.ts), in and out in bytes. */
function utf16Search(read: RangeRead, options: BoundaryOptions, bigEndian: boolean) {
  const units = unitRangeRead(read, bigEndian);
  const unitOptions = unitBoundaryOptions(options);
  return {
    recordStart: async (at: number) => fromUnits(await findRecordStart(units, toUnits(at), unitOptions), options),
    ownRecordsStart: async (start: number, end: number) =>
      fromUnits(await ownRecordsStart(units, toUnits(start), Math.min(toUnits(end), unitOptions.objectSize), unitOptions), options),
  };
}

/** The uploaded object's pinned version; staged parts are written once by the splitter and need none. */
function sourcePin(job: IngestJobState, p: Partition): ObjectPin | undefined {
  return p.exactRange ? undefined : pinOf(job);
}

/** How a job's records are read: the dataset's fields, with the header's columns and the line end the split recorded. */
export function layoutOf(job: Pick<IngestJobState, 'columns' | 'lineEnd'>, dataset: DatasetDefinition): RecordLayout {
  return {
    format: dataset.format,
    columns: job.columns ?? [],
    timeColumn: dataset.timeColumn,
    timeFormat: dataset.timeFormat,
    dimensions: dataset.dimensions,
    metrics: dataset.metrics,
    dialect: dialectOf(csvOptionsOf(dataset), job.lineEnd),
    values: {
      nullValues: dataset.nullValues,
      decimalSeparator: dataset.decimalSeparator,
      thousandsSeparator: dataset.thousandsSeparator,
      timeZone: dataset.timeZone,
      onInvalidValue: dataset.onInvalidValue,
    },
  };
}
