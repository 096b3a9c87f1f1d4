import type { DatasetDefinition } from '../datasets/definition.ts';
import { readParquetRowGroups, type ParquetPartition } from '../parse/parquetReader.ts';
import { createRecordReader, type RecordReader } from '../parse/reader.ts';
import type { RecordSink } from '../parse/sink.ts';
import { timeRange } from '../parse/values.ts';
import { layoutOf } from '../process/processPartition.ts';
import { BUCKET_ORIGIN_MS, parseGranularity } from '../rollup/granularity.ts';

/**
 * The splitter's look at a file's first records before any partition is sent: with a wrong
 * delimiter, encoding or format every line is a reject, and a file of millions of them would be
 * read to the end to say so. The records are read as the processors read them (same reader, same
 * layout), so the sample's rejects are the job's first rejects.
 */

/** Records the sample reads: enough that a rate is meaningful, few enough to be in the first MiB. */
export const SAMPLE_RECORDS = 1000;
/** The most of the object (after its header) the sample reads: 1,000 records of up to 1 KiB. */
export const SAMPLE_BYTES = 1 << 20;

/** What a sample counted: records, rejects, and the first reject's line in the object and reason. */
export interface SampleCounts {
  readonly records: number;
  readonly rejected: number;
  readonly first?: { readonly line: number; readonly reason: string };
}

/** Reads a file's first records (UTF-8, from its data start) and counts their rejects. */
export interface SampleCheck {
  /** Reads the next bytes of the data; records past SAMPLE_RECORDS are not counted. */
  push(utf8: Uint8Array): void;
  /** Whether SAMPLE_RECORDS records were read. */
  readonly full: boolean;
  /** The counts; `atEnd`: the data ended with what was pushed (its last record needs no line end). */
  counts(atEnd: boolean): SampleCounts;
}

/**
 * A sample of `columns`-laid-out records of `dataset`, whose data starts after `headerLines`
 * physical lines of the object (so reject lines are the object's), its lines ending as detected.
 */
export function createSampleCheck(dataset: DatasetDefinition, found: { columns: readonly string[]; headerLines: number; lineEnd: 'lf' | 'cr' }, maxRecordBytes: number): SampleCheck {
  const counter = sampleCounter(found.headerLines);
  let ended = false;
  const reader: RecordReader = createRecordReader(layoutOf({ columns: [...found.columns], lineEnd: found.lineEnd }, dataset), counter.sink, {
    baseOffset: 0,
    maxRecordBytes,
    timeRange: timeRange(parseGranularity(dataset.granularity).ms, BUCKET_ORIGIN_MS),
  });
  return {
    push(utf8) {
      if (!counter.full) reader.push(utf8);
    },
    get full() {
      return counter.full;
    },
    counts(atEnd) {
      if (atEnd && !ended && !counter.full) reader.end();
      ended ||= atEnd;
      return counter.counts();
    },
  };
}

/**
 * Why a job fails on its sample, or undefined: when more than `maxRejectedPercent` of the sampled
 * records are rejects. The message says how many of how many, asks the question the usual cause
 * raises, and names the first reject's line and reason.
 *
 * @example
 * sampleProblem({ records: 1000, rejected: 870, first: { line: 2, reason: 'expected 5 fields, found 1' } }, 5, 'csv');
 * // → '87 % of the first 1,000 records rejected (over the dataset's maxRejectedPercent of 5 %): is the delimiter right? …'
 */
export function sampleProblem(counts: SampleCounts, maxRejectedPercent: number | null, format: DatasetDefinition['format']): string | undefined {
  if (maxRejectedPercent === null || counts.records === 0) return undefined;
  if (counts.rejected * 100 <= maxRejectedPercent * counts.records) return undefined;
  const percent = Math.round((counts.rejected * 1000) / counts.records) / 10;
  const question = format === 'csv' ? 'is the delimiter right?' : format === 'parquet' ? 'are the time, metric and dimension columns the right ones?' : 'is it one JSON object per line?';
  const first = counts.first ? ` The first reject, line ${counts.first.line}: ${counts.first.reason}` : '';
  const records = counts.records.toLocaleString('en-US');
  return `${percent} % of the first ${records} records rejected (over the dataset's maxRejectedPercent of ${maxRejectedPercent} %): ${question} (or the encoding, the time format).${first}`;
}

/** The largest first row group the Parquet sample reads (its used column chunks, compressed). */
export const PARQUET_SAMPLE_BYTES = 16 << 20;

/**
 * The first SAMPLE_RECORDS rows of a Parquet object's first row group, read as the processors read
 * them (readParquetRowGroups, the dataset's layout), counted. Lines are the rows' 1-based numbers.
 */
export async function sampleParquet(part: Omit<ParquetPartition, 'rowGroups' | 'afterRowGroup'>, dataset: DatasetDefinition, columns: readonly string[]): Promise<SampleCounts> {
  const counter = sampleCounter(0);
  await readParquetRowGroups(
    { ...part, rowGroups: { start: 0, end: Math.min(1, part.metadata.row_groups.length) } },
    layoutOf({ columns: [...columns], lineEnd: 'lf' }, dataset),
    counter.sink,
    { timeRange: timeRange(parseGranularity(dataset.granularity).ms, BUCKET_ORIGIN_MS) },
  );
  return counter.counts();
}

/** A sink counting the first SAMPLE_RECORDS records and their rejects; lines offset by `headerLines`. */
function sampleCounter(headerLines: number): { sink: RecordSink; readonly full: boolean; counts(): SampleCounts } {
  let records = 0;
  let rejected = 0;
  let first: SampleCounts['first'];
  return {
    sink: {
      accept() {
        if (records < SAMPLE_RECORDS) records++;
      },
      reject(r) {
        if (records >= SAMPLE_RECORDS) return;
        records++;
        rejected++;
        first ??= { line: headerLines + r.line, reason: r.reason };
      },
    },
    get full() {
      return records >= SAMPLE_RECORDS;
    },
    counts: () => ({ records, rejected, ...(first ? { first } : {}) }),
  };
}
