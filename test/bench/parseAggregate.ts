import { createReadStream, readFileSync } from 'node:fs';
import { parseDatasetDefinition, type DatasetDefinition } from '../../lib/datasets/definition.ts';
import { parseCsvHeader } from '../../lib/parse/header.ts';
import { parquetColumns, readParquetFooter } from '../../lib/parse/parquetFooter.ts';
import { readParquetRowGroups } from '../../lib/parse/parquetReader.ts';
import { createRecordReader } from '../../lib/parse/reader.ts';
import { createRollupAggregator } from '../../lib/rollup/aggregator.ts';
import { BinaryRowEncoder } from '../../lib/store/partials.ts';
import { salesDataset } from '../../localstack/demo/sampleData.ts';
import { highCardinalityDataset } from './highCardinality.ts';

/** The datasets the benchmark's files are defined by, by name (child processes are given the name). */
export const benchDatasets = { [salesDataset.name]: salesDataset, [highCardinalityDataset.name]: highCardinalityDataset } as const;

/** A bench dataset's definition, parsed, from its name. */
export function benchDataset(name: string): DatasetDefinition {
  const raw = (benchDatasets as Record<string, unknown>)[name];
  if (!raw) throw new Error(`no bench dataset named "${name}" (${Object.keys(benchDatasets).join(', ')})`);
  return parseDatasetDefinition(raw);
}

/**
 * The processor's pure work on one core — read a CSV, parse, validate, aggregate, and encode the
 * groups as the partial rows it sends to COPY — without S3 or Postgres, as processPartition
 * composes it (one aggregator for the whole file, so the groups are DuckDB's).
 */
export async function parseAndAggregate(file: string, dataset: DatasetDefinition): Promise<{ records: number; rejected: number; cells: number; ms: number }> {
  if (dataset.format === 'parquet') return parquetAndAggregate(file, dataset);
  const started = performance.now();
  const aggregator = createRollupAggregator(dataset);
  let reader: ReturnType<typeof createRecordReader> | undefined;
  let head = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    if (!reader) {
      head = Buffer.concat([head, chunk as Buffer]);
      const header = parseCsvHeader(head, false);
      if (!header) continue;
      reader = createRecordReader(
        { ...dataset, columns: header.columns },
        { accept: aggregator.add, reject: () => {} },
        { baseOffset: header.dataStart, maxRecordBytes: 1 << 20 },
      );
      reader.push(head.subarray(header.dataStart));
      continue;
    }
    reader.push(chunk as Buffer);
  }
  const stats = reader!.end();
  return { ...encoded(aggregator, dataset), records: stats.records, rejected: stats.rejected, ms: performance.now() - started };
}

/**
 * The same for a Parquet file: footer, every row group's used column chunks (read from the file in
 * memory, as range requests would return them), decode, validate, aggregate, encode.
 */
async function parquetAndAggregate(file: string, dataset: DatasetDefinition): Promise<{ records: number; rejected: number; cells: number; ms: number }> {
  const bytes = readFileSync(file);
  const started = performance.now();
  const aggregator = createRollupAggregator(dataset);
  const read = async (start: number, end: number) => bytes.subarray(start, end);
  const metadata = await readParquetFooter(read, bytes.length);
  const layout = { ...dataset, columns: [] };
  const { columns } = parquetColumns(metadata, layout);
  const stats = await readParquetRowGroups(
    { read, objectSize: bytes.length, metadata, columns, rowGroups: { start: 0, end: metadata.row_groups.length } },
    layout,
    { accept: aggregator.add, reject: () => {} },
  );
  return { ...encoded(aggregator, dataset), records: stats.records, rejected: stats.rejected, ms: performance.now() - started };
}

/** Encodes the aggregator's groups as the partial rows a processor sends; returns the cells. */
function encoded(aggregator: ReturnType<typeof createRollupAggregator>, dataset: DatasetDefinition): { cells: number } {
  const encoder = new BinaryRowEncoder({ dataset: dataset.name, jobId: 1, idx: 0, metrics: dataset.metrics });
  let groups = 0;
  encoder.start();
  for (const group of aggregator.groups()) {
    encoder.row(group);
    groups++;
    if (encoder.length >= 1 << 20) encoder.take();
  }
  encoder.end();
  return { cells: groups * dataset.metrics.length };
}
