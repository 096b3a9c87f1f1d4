import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { csvOptionsOf, type DatasetDefinition } from '../datasets/definition.ts';
import { dialectOf, escapesQuotes, headerOptionsOf } from '../parse/dialect.ts';
import { HeaderError, missingColumns, parseCsvHeader } from '../parse/header.ts';
import { ParquetFileError, chunkRange, parquetColumns, readParquetFooter, topLevelColumns, usedChunks } from '../parse/parquetFooter.ts';
import { getDataset } from '../store/datasets.ts';
import type { Db } from '../store/db.ts';
import { beginSplitAttempt, failIngestJob, findIngestJobByVersion, openIngestJob, type IngestJob } from '../store/ingestJobs.ts';
import { recordSplit } from '../store/partitions.ts';
import { getTunedSetting } from '../store/performance.ts';
import { topology } from '../topology.ts';
import { createTranscoder, detectEncoding, sourceLength, unitBytes, type TextEncoding } from '../parse/transcode.ts';
import { createPartCutter } from './cutter.ts';
import { encodingProblem } from './encoding.ts';
import { planByteRanges, planRowGroups, type PartitionPlan } from './partitionPlan.ts';
import { createSampleCheck, PARQUET_SAMPLE_BYTES, SAMPLE_BYTES, sampleParquet, sampleProblem } from './sampleCheck.ts';
import { ObjectChangedError, pinOf } from '../process/ports.ts';
import type { ObjectStore, PartitionQueue } from './ports.ts';
import { sendUnsentPartitions } from './sendPartitions.ts';
import { datasetOfKey, type CreatedObject } from './s3Event.ts';

/** What splitting needs from the outside world. */
export interface SplitContext {
  readonly db: Db;
  readonly objects: ObjectStore;
  readonly queue: PartitionQueue;
  readonly partitionBytes: number;
  readonly maxRecordBytes: number;
  /** The most a gzip object may decompress to; past it the job fails instead of the splitter's memory or time. */
  readonly maxDecompressedBytes: number;
}

/** How long this invocation may still run (Lambda's `context.getRemainingTimeInMillis`). */
export interface SplitBudget {
  remainingMs(): number;
}

/**
 * Time kept back from the invocation's deadline to record a gzip split that cannot finish as a
 * failed job: a few statements, well under a second when the database answers.
 */
const FAIL_MARGIN_MS = 20_000;

/** The outcome of one object, for logs and tests. */
export interface SplitOutcome {
  readonly jobId: number | null;
  readonly status: 'split' | 'resent' | 'duplicate' | 'failed' | 'ignored';
  readonly partitions: number;
  readonly reason?: string;
}

/** A failure that belongs to the object, not to the infrastructure: the job fails, no retry. */
class ObjectProblem extends Error {}

const GZIP_MAGIC = [0x1f, 0x8b];
const HEADER_PROBE_BYTES = 64 * 1024;

/**
 * Turns one uploaded object into a job and its partitions, exactly once per object version:
 * opens (or finds) the job, reads the header, plans the partitions, records them in Postgres and
 * sends one SQS message each. A repeated notification re-sends only what was never sent.
 * Problems with the object itself (unknown dataset, unreadable, bad header, corrupt gzip) end the
 * job as `failed` with a reason; infrastructure errors throw, so SQS retries the notification.
 */
export async function splitObject(ctx: SplitContext, object: CreatedObject, budget?: SplitBudget): Promise<SplitOutcome> {
  const datasetName = datasetOfKey(object.key);
  if (datasetName === undefined) {
    return { jobId: null, status: 'ignored', partitions: 0, reason: `key ${object.key} is not under uploads/<dataset>/` };
  }
  const { job, created } = await openIngestJob(ctx.db, {
    dataset: datasetName,
    bucket: object.bucket,
    key: object.key,
    objectVersion: object.objectVersion,
    versionId: object.versionId,
    eTag: object.eTag,
    objectSize: object.size,
    // The tuner's size when it set one; the job records it, so a retried split plans the same.
    partitionBytes: (await getTunedSetting(ctx.db, 'partitionBytes')) ?? ctx.partitionBytes,
  });
  if (!created && job.status !== 'splitting') {
    // Already split: re-send anything a crash left unsent (a no-op for the usual duplicate event).
    const sent = await sendUnsentPartitions(ctx, job.jobId);
    return { jobId: job.jobId, status: sent > 0 ? 'resent' : 'duplicate', partitions: sent };
  }
  // The watchdog's evidence that an attempt started, and when.
  await beginSplitAttempt(ctx.db, job.jobId);
  const started = performance.now();
  try {
    // The job's snapshot (openIngestJob), so a put while it splits or processes changes nothing of
    // it; a job opened before snapshots were kept, or before its dataset existed, has none.
    const dataset = job.definition ?? (await getDataset(ctx.db, datasetName));
    if (!dataset) throw new ObjectProblem(`unknown dataset prefix: uploads/${datasetName}/ (no dataset named "${datasetName}"; register it with batchflow datasets put)`);
    // A retried split reuses the partition size recorded with the job, so the plan is the same.
    const settings = { ...ctx, partitionBytes: job.partitionBytes };
    let split: Split;
    if (dataset.format === 'parquet') {
      split = await splitParquet(settings, job, dataset);
    } else {
      const head = await readOrExplain(() => ctx.objects.readRange(object.bucket, object.key, 0, Math.min(object.size, HEADER_PROBE_BYTES), pinOf(job)), object);
      const gzip = head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
      // With an escape other than the quote, quote parity no longer finds record boundaries
      // (lib/process/boundary.ts): such an object is streamed and cut by the scanner, as gzip is.
      const streamed = gzip || (dataset.format === 'csv' && escapesQuotes(csvOptionsOf(dataset)));
      split = streamed ? await splitStreamed(settings, job, dataset, budget, gzip) : await splitRanges(settings, job, dataset, head);
    }
    await recordSplit(ctx.db, job.jobId, { ...split, maxRejectedPercent: dataset.maxRejectedPercent, splitMs: performance.now() - started });
  } catch (err) {
    if (!(err instanceof ObjectProblem)) throw err;
    await failIngestJob(ctx.db, job.jobId, err.message);
    return { jobId: job.jobId, status: 'failed', partitions: 0, reason: err.message };
  }
  const sent = await sendUnsentPartitions(ctx, job.jobId);
  return { jobId: job.jobId, status: 'split', partitions: sent };
}

/** Which delivery of the notification this is, and how many the ingest queue allows before its DLQ. */
export interface Delivery {
  readonly receiveCount: number;
  readonly maxReceives: number;
}

/**
 * Records a split attempt that threw (an infrastructure error: the database, S3 or SQS): on the
 * notification's last delivery its job, still splitting, fails with the error before the message
 * dead-letters. Returns whether it failed a job. A job past splitting is left alone: its
 * partitions are recorded, and unsent ones are the watchdog's (it fails them, `retry` re-sends).
 */
export async function recordFailedSplit(db: Db, object: CreatedObject, delivery: Delivery, error: unknown): Promise<boolean> {
  if (delivery.receiveCount < delivery.maxReceives) return false;
  const job = await findIngestJobByVersion(db, object);
  if (!job || job.status !== 'splitting') return false;
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return failIngestJob(db, job.jobId, `split attempt ${delivery.receiveCount} of ${delivery.maxReceives} failed: ${text}`);
}

type Split = Omit<Parameters<typeof recordSplit>[2], 'splitMs'> & { encoding: TextEncoding };

/**
 * An uncompressed object: nominal byte ranges; processors find the record boundaries. An object
 * in another encoding is read as its UTF-8 transcoding (header and sample), its positions mapped
 * back to its own bytes; UTF-16 is cut at even offsets, its ranges twice as long in bytes.
 */
async function splitRanges(ctx: SplitContext, job: IngestJob, dataset: DatasetDefinition, head: Uint8Array): Promise<Split> {
  const size = job.objectSize ?? 0;
  const { encoding, bomLength } = detectEncoding(head, dataset.encoding);
  const unit = unitBytes(encoding);
  const read = (end: number) => readOrExplain(() => ctx.objects.readRange(job.bucket, job.key, 0, end, pinOf(job)), job);
  let bytes = head;
  let text = textOf(bytes, encoding, bomLength, bytes.length >= size);
  let layout = tryLayout(dataset, text, bytes.length >= size, ctx.maxRecordBytes);
  while (!layout) {
    // A header of maxRecordBytes of UTF-8 is at most unit × (maxRecordBytes + 1) bytes of the object.
    bytes = await read(Math.min(size, bytes.length * 4, unit * (ctx.maxRecordBytes + 1)));
    text = textOf(bytes, encoding, bomLength, bytes.length >= size);
    layout = tryLayout(dataset, text, bytes.length >= size, ctx.maxRecordBytes);
  }
  if (dataset.maxRejectedPercent !== null) {
    if (bytes.length < size && text.length - layout.dataStart < SAMPLE_BYTES) {
      bytes = await read(Math.min(size, bytes.length + unit * SAMPLE_BYTES));
      text = textOf(bytes, encoding, bomLength, bytes.length >= size);
    }
    const sample = createSampleCheck(dataset, layout, ctx.maxRecordBytes);
    sample.push(text.subarray(layout.dataStart));
    const problem = sampleProblem(sample.counts(bytes.length >= size), dataset.maxRejectedPercent, dataset.format);
    if (problem) throw new ObjectProblem(problem);
  }
  const dataStart = encoding === 'utf-8' ? layout.dataStart : bomLength + sourceLength(text.subarray(0, layout.dataStart), encoding);
  const partitions = planByteRanges({
    key: job.key,
    objectSize: size,
    dataStart,
    partitionBytes: ctx.partitionBytes,
    // The boundary search runs over UTF-16's 2-byte units (lib/process/utf16Units.ts).
    maxRecordBytes: unit * ctx.maxRecordBytes,
    unitBytes: unit,
  });
  return { format: dataset.format, compression: 'none', ...layout, dataStart, partitions, encoding };
}

/**
 * The text of an object's first bytes as UTF-8: the bytes themselves for UTF-8 (checked to be
 * text), else their transcoding without the byte order mark (a unit cut at the end left out
 * unless the object ends there).
 */
function textOf(bytes: Uint8Array, encoding: TextEncoding, bomLength: number, atEnd: boolean): Uint8Array {
  if (encoding === 'utf-8') return checkedText(bytes);
  const transcoder = createTranscoder(encoding);
  const text = transcoder.push(bytes.subarray(bomLength));
  return checkedText(atEnd ? Buffer.concat([text, transcoder.end()]) : text);
}

/** A streamed object's bytes (a gzip object's decompressed) as they come, failing the job past the size or time limits. */
async function* inflatedWithin(ctx: SplitContext, inflated: AsyncIterable<Buffer> & { destroy(): void }, budget: SplitBudget | undefined, gzip: boolean): AsyncGenerator<Buffer> {
  const started = Date.now();
  let decompressed = 0;
  for await (const chunk of inflated) {
    decompressed += chunk.length;
    if (decompressed > ctx.maxDecompressedBytes) {
      inflated.destroy();
      throw new ObjectProblem(
        gzip
          ? `gzip object decompressed past ${ctx.maxDecompressedBytes} bytes (MAX_DECOMPRESSED_BYTES): split it into smaller files, or upload it uncompressed (ranges of a plain file are read in parallel)`
          : `object is longer than ${ctx.maxDecompressedBytes} bytes (MAX_DECOMPRESSED_BYTES), the most an object split by streaming may be (its dataset's escape is not the quote): split it into smaller files, or write quotes doubled (ranges of such a file are read in parallel)`,
      );
    }
    if (budget && budget.remainingMs() < FAIL_MARGIN_MS) {
      inflated.destroy();
      throw new ObjectProblem(
        `${gzip ? 'gzip object' : "object (split by streaming: its dataset's escape is not the quote)"} could not be split within the splitter's timeout: ${decompressed} bytes ${gzip ? 'decompressed' : 'read'} and staged in ${Math.round((Date.now() - started) / 1000)} s; split it into smaller files, or ${gzip ? 'upload it uncompressed' : 'write quotes doubled'}`,
      );
    }
    yield chunk;
  }
}

/**
 * Decompressed bytes as UTF-8: as they are when the object is UTF-8, else transcoded (its byte
 * order mark dropped); `found` learns the encoding once the first bytes tell it.
 */
async function* asUtf8(chunks: AsyncIterable<Buffer>, declared: DatasetDefinition['encoding'], found: (e: TextEncoding) => void): AsyncGenerator<Buffer> {
  let first: Buffer = Buffer.alloc(0);
  let transcoder: ReturnType<typeof createTranscoder> | undefined;
  let known = false;
  const start = (bytes: Buffer): Buffer => {
    known = true;
    const { encoding, bomLength } = detectEncoding(bytes, declared);
    found(encoding);
    if (encoding === 'utf-8') return bytes;
    transcoder = createTranscoder(encoding);
    return transcoder.push(bytes.subarray(bomLength));
  };
  for await (const chunk of chunks) {
    if (known) {
      yield transcoder ? transcoder.push(chunk) : chunk;
      continue;
    }
    // Four bytes tell UTF-32LE's byte order mark from UTF-16LE's.
    first = Buffer.concat([first, chunk]);
    if (first.length >= 4) yield start(first);
  }
  if (!known) yield start(first);
  if (transcoder) yield transcoder.end();
}

/**
 * A Parquet object: its footer, read with range requests, names the row groups; partitions are
 * whole row groups (planRowGroups), and the job fails when the schema does not fit the dataset.
 */
async function splitParquet(ctx: SplitContext, job: IngestJob, dataset: DatasetDefinition): Promise<Split> {
  const read = (start: number, end: number) => readOrExplain(() => ctx.objects.readRange(job.bucket, job.key, start, end, pinOf(job)), job);
  let metadata;
  try {
    metadata = await readParquetFooter(read, job.objectSize ?? 0);
  } catch (err) {
    if (err instanceof ParquetFileError) throw new ObjectProblem(err.message);
    throw err;
  }
  const schemaColumns = topLevelColumns(metadata);
  const { columns, problems } = parquetColumns(metadata, { ...dataset, columns: schemaColumns });
  if (problems.length > 0) throw new ObjectProblem(`Parquet object does not fit dataset "${dataset.name}": ${problems.join('; ')}`);
  const used = new Set(columns.keys());
  const groups = metadata.row_groups.map((_, g) => {
    const chunks = usedChunks(metadata, g, used);
    const ranges = chunks.map(chunkRange);
    return {
      start: ranges.length > 0 ? Math.min(...ranges.map((r) => r.start)) : 0,
      end: ranges.length > 0 ? Math.max(...ranges.map((r) => r.end)) : 0,
      bytes: chunks.reduce((n, c) => n + Number(c.total_uncompressed_size), 0),
    };
  });
  // The reject-rate sample reads the first row group when it is small enough to read at the split;
  // a larger one leaves the check to the job's end (finishIngestJobIfDone).
  const firstGroup = groups[0];
  if (dataset.maxRejectedPercent !== null && firstGroup && firstGroup.end - firstGroup.start <= PARQUET_SAMPLE_BYTES) {
    const counts = await sampleParquet({ read, objectSize: job.objectSize ?? 0, metadata, columns }, dataset, schemaColumns);
    const problem = sampleProblem(counts, dataset.maxRejectedPercent, dataset.format);
    if (problem) throw new ObjectProblem(problem);
  }
  const partitions = planRowGroups({ key: job.key, groups, partitionBytes: ctx.partitionBytes });
  // Row groups begin after the leading magic "PAR1".
  // Parquet strings are UTF-8 by the format's definition, whatever the dataset's encoding says.
  return { format: 'parquet', compression: 'none', encoding: 'utf-8', columns: schemaColumns, headerLines: 0, dataStart: 4, partitions };
}

/**
 * A gzip object cannot be range-read: stream it once, decompress, cut it into parts of whole
 * records and stage them under `staging/<job>/`. Parts are only announced after the whole object
 * decoded, so a corrupt file fails the job without merging anything. A plain object whose quotes
 * may be escaped (`gzip` false) is cut the same way, without decompressing. An object in another
 * encoding is transcoded as it streams: its staged parts are UTF-8.
 */
async function splitStreamed(ctx: SplitContext, job: IngestJob, dataset: DatasetDefinition, budget: SplitBudget | undefined, gzip: boolean): Promise<Split> {
  const body = await readOrExplain(() => ctx.objects.stream(job.bucket, job.key, undefined, pinOf(job)), job);
  const inflated = gzip ? Readable.from(body).pipe(createGunzip()) : Readable.from(body);
  let cutter: ReturnType<typeof createPartCutter> | undefined;
  const partitions: PartitionPlan[] = [];
  const stage = async (part: Uint8Array) => {
    const key = `${topology.bucket.stagingPrefix}${job.jobId}/part-${String(partitions.length).padStart(5, '0')}`;
    await ctx.objects.put(job.bucket, key, part, 'application/octet-stream');
    partitions.push({ idx: partitions.length, sourceKey: key, rangeStart: 0, rangeEnd: part.length, exactRange: true });
  };
  let encoding: TextEncoding = 'utf-8';
  let headBytes: Buffer = Buffer.alloc(0);
  let layout: Layout | undefined;
  let sample: ReturnType<typeof createSampleCheck> | undefined;
  const sampled = async (data: Buffer, atEnd: boolean) => {
    if (!sample) return;
    sample.push(data);
    if (!sample.full && !atEnd) return;
    const problem = sampleProblem(sample.counts(atEnd), dataset.maxRejectedPercent, dataset.format);
    sample = undefined;
    if (problem) {
      inflated.destroy();
      throw new ObjectProblem(problem);
    }
  };
  // Once the header is read: the sample (when the dataset has a threshold) and the cutter.
  const laidOut = (found: Layout) => {
    if (dataset.maxRejectedPercent !== null) sample = createSampleCheck(dataset, found, ctx.maxRecordBytes);
    cutter = cutterFor(ctx, dataset, found);
    return found;
  };
  try {
    for await (const chunk of asUtf8(inflatedWithin(ctx, inflated, budget, gzip), dataset.encoding, (e) => (encoding = e))) {
      let data = chunk;
      if (!layout) {
        headBytes = Buffer.concat([headBytes, data]);
        layout = tryLayout(dataset, checkedText(headBytes), false, ctx.maxRecordBytes);
        if (!layout) continue;
        laidOut(layout);
        data = headBytes.subarray(layout.dataStart);
      }
      await sampled(data, false);
      // The cutter holds at most a part, a record and a chunk: a longer record is shortened to a reject.
      for (const part of cutter!.push(data)) await stage(part);
    }
  } catch (err) {
    if (err instanceof ObjectProblem) throw err;
    if ((err as { code?: string }).code?.startsWith('Z_')) throw new ObjectProblem(`object is not valid gzip: ${(err as Error).message}`);
    throw err;
  }
  if (!layout || !cutter) {
    layout = laidOut(tryLayout(dataset, headBytes, true, ctx.maxRecordBytes)!);
    const data = headBytes.subarray(layout.dataStart);
    await sampled(data, false);
    for (const part of cutter!.push(data)) await stage(part);
  }
  await sampled(Buffer.alloc(0), true);
  for (const part of cutter!.end()) await stage(part);
  // Staged parts hold data only: their ranges start at 0.
  return { format: dataset.format, compression: gzip ? 'gzip' : 'none', ...layout, dataStart: 0, partitions, encoding };
}

/** A streamed object's cutter, cutting where the processors' reader ends records (the dialect and the detected line end). */
function cutterFor(ctx: SplitContext, dataset: DatasetDefinition, layout: Layout) {
  return createPartCutter({
    // Parquet objects are split by splitParquet, never here.
    format: dataset.format as 'csv' | 'ndjson',
    targetBytes: ctx.partitionBytes,
    maxRecordBytes: ctx.maxRecordBytes,
    dialect: dialectOf(csvOptionsOf(dataset), layout.lineEnd),
  });
}

/** The object's first bytes, when they may be UTF-8 text; otherwise the job fails naming the encoding. */
function checkedText<T extends Uint8Array>(head: T): T {
  const problem = encodingProblem(head);
  if (problem) throw new ObjectProblem(problem);
  return head;
}

interface Layout {
  columns: string[];
  headerLines: number;
  dataStart: number;
  lineEnd: 'lf' | 'cr';
}

/**
 * The layout of the object's start — the CSV header's columns (checked against the dataset) and
 * where the data begins — or undefined when `bytes` do not hold the whole header yet.
 */
function tryLayout(dataset: DatasetDefinition, bytes: Uint8Array, atEnd: boolean, maxRecordBytes: number): Layout | undefined {
  if (dataset.format === 'ndjson') {
    // As an empty CSV object (no header) fails: an empty upload is a broken export, not zero records.
    if (bytes.length === 0 && atEnd) throw new ObjectProblem('object is empty (no NDJSON line)');
    if (bytes.length < 3 && !atEnd) return undefined;
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    return { columns: [], headerLines: 0, dataStart: bom ? 3 : 0, lineEnd: 'lf' };
  }
  let header;
  try {
    header = parseCsvHeader(bytes, atEnd, headerOptionsOf(csvOptionsOf(dataset)));
  } catch (err) {
    if (err instanceof HeaderError) throw new ObjectProblem(`bad CSV header: ${err.message}`);
    throw err;
  }
  if (!header) {
    const what = dataset.header === false ? 'first line' : 'CSV header';
    if (atEnd) throw new ObjectProblem(`object has no ${what} (it is empty)`);
    if (bytes.length >= maxRecordBytes) throw new ObjectProblem(`no end of the ${what} within the first ${maxRecordBytes} bytes`);
    return undefined;
  }
  const missing = missingColumns({ ...dataset, columns: header.columns });
  if (missing.length > 0) {
    throw new ObjectProblem(
      `header is missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} defined by dataset "${dataset.name}" (header: ${header.columns.join(',')})`,
    );
  }
  return { columns: [...header.columns], headerLines: header.headerLines, dataStart: header.dataStart, lineEnd: header.lineEnd === 13 ? 'cr' : 'lf' };
}

/** Turns "the object is not there / not readable" into an ObjectProblem; rethrows the rest. */
async function readOrExplain<T>(read: () => Promise<T>, object: { key: string }): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ObjectChangedError) throw new ObjectProblem(err.message.replace('during processing', 'during splitting'));
    const name = (err as { name?: string }).name ?? '';
    if (['NoSuchKey', 'NotFound', 'AccessDenied', 'InvalidObjectState', 'InvalidRange'].includes(name)) {
      throw new ObjectProblem(`object ${object.key} is unreadable: ${name}`);
    }
    throw err;
  }
}
