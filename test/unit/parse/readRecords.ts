import { createRecordReader, type ReaderStats } from '../../../lib/parse/reader.ts';
import type { RecordLayout, RejectedRecord } from '../../../lib/parse/sink.ts';

/** The sales CSV layout the reader tests read (ts, region, product, amount, quantity). */
export const salesLayout: RecordLayout = {
  format: 'csv',
  columns: ['ts', 'region', 'product', 'amount', 'quantity'],
  timeColumn: 'ts',
  timeFormat: 'iso',
  dimensions: ['region', 'product'],
  metrics: ['amount', 'quantity'],
};

/** A record the reader accepted, copied out of the arrays it reuses. */
export interface Accepted {
  timeMs: number;
  dims: string[];
  metrics: number[];
}

/**
 * Reads chunks with the record reader and a sink that copies what it is given (the reader reuses
 * its arrays); shared by the CSV and NDJSON reader tests.
 */
export function read(layout: RecordLayout, chunks: readonly Uint8Array[], baseOffset = 0, maxRecordBytes = 1 << 20) {
  const accepted: Accepted[] = [];
  const rejected: RejectedRecord[] = [];
  const reader = createRecordReader(
    layout,
    {
      accept: (timeMs, dims, metrics) => accepted.push({ timeMs, dims: [...dims], metrics: [...metrics] }),
      reject: (record) => rejected.push(record),
    },
    { baseOffset, maxRecordBytes },
  );
  for (const chunk of chunks) reader.push(chunk);
  const stats: ReaderStats = reader.end();
  return { accepted, rejected, stats };
}

/** UTF-8 bytes of a text. */
export const bytesOf = (text: string) => Buffer.from(text, 'utf8');
