import { BatchflowError } from '../errors.ts';

/*
 * The partition message contract: the splitter sends one per partition, the processor reads it.
 * Owned by the processor, whose input it is; the splitter's queue port (lib/split/ports.ts) sends it.
 */

/** A partition message body that is not JSON or lacks its fields. */
export class PartitionMessageError extends BatchflowError {
  override name = 'PartitionMessageError';
}

/**
 * The body of one partition message: which job and which partition (Postgres holds the rest), and
 * for a Parquet partition its row groups [start, end), as recorded with it.
 */
export interface PartitionMessage {
  readonly v: 1;
  readonly jobId: number;
  readonly idx: number;
  readonly rowGroups?: readonly [start: number, end: number];
}

/** Reads a partition message body, naming what is wrong with a bad one. */
export function parsePartitionMessage(body: string): PartitionMessage {
  let m: Partial<PartitionMessage>;
  try {
    m = JSON.parse(body);
  } catch {
    throw new PartitionMessageError(`partition message is not JSON: ${body.slice(0, 200)}`);
  }
  if (m.v !== 1 || !Number.isInteger(m.jobId) || !Number.isInteger(m.idx)) {
    throw new PartitionMessageError(`partition message lacks v=1, jobId or idx: ${body.slice(0, 200)}`);
  }
  if (m.rowGroups === undefined) return { v: 1, jobId: m.jobId!, idx: m.idx! };
  const [start, end] = (Array.isArray(m.rowGroups) ? m.rowGroups : []) as number[];
  if (m.rowGroups.length !== 2 || !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) {
    throw new PartitionMessageError(`partition message's rowGroups is not [start, end) of row group indices: ${body.slice(0, 200)}`);
  }
  return { v: 1, jobId: m.jobId!, idx: m.idx!, rowGroups: [start, end] };
}
