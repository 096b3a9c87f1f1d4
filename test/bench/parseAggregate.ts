import { createReadStream } from 'node:fs';
import { parseDatasetDefinition, type DatasetDefinition } from '../../lib/datasets/definition.ts';
import { parseCsvHeader } from '../../lib/parse/header.ts';
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
  const encoder = new BinaryRowEncoder({ dataset: dataset.name, jobId: 1, idx: 0, metrics: dataset.metrics });
  let groups = 0;
  encoder.start();
  for (const group of aggregator.groups()) {
    encoder.row(group);
    groups++;
    if (encoder.length >= 1 << 20) encoder.take();
  }
  encoder.end();
  return { records: stats.records, rejected: stats.rejected, cells: groups * dataset.metrics.length, ms: performance.now() - started };
}
