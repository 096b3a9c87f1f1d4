/**
 * One partition of an object: a byte range of it (nominal unless exactRange), one staged part, or
 * (Parquet) whole row groups, whose column chunks span the byte range.
 */
export interface PartitionPlan {
  readonly idx: number;
  readonly sourceKey: string;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly exactRange: boolean;
  /** Parquet only: row groups [start, end) of the file. */
  readonly rowGroups?: { readonly start: number; readonly end: number };
}

/**
 * Cuts [dataStart, objectSize) into byte ranges of about `partitionBytes`. The ranges are nominal:
 * each processor moves both ends to the next record start (lib/process/boundary.ts), which lies at
 * most 2 × maxRecordBytes further on; ranges at least that long keep the moved ends in order, so
 * the partitions still tile the object exactly.
 */
export function planByteRanges(input: {
  key: string;
  objectSize: number;
  dataStart: number;
  partitionBytes: number;
  maxRecordBytes: number;
}): PartitionPlan[] {
  const dataBytes = input.objectSize - input.dataStart;
  if (dataBytes <= 0) return [];
  const step = Math.max(input.partitionBytes, 2 * input.maxRecordBytes + 1);
  // floor: every range is at least `step` long (the last absorbs the remainder).
  const count = Math.max(1, Math.floor(dataBytes / step));
  const plans: PartitionPlan[] = [];
  for (let i = 0; i < count; i++) {
    plans.push({
      idx: i,
      sourceKey: input.key,
      rangeStart: input.dataStart + Math.floor((dataBytes * i) / count),
      rangeEnd: i === count - 1 ? input.objectSize : input.dataStart + Math.floor((dataBytes * (i + 1)) / count),
      exactRange: false,
    });
  }
  return plans;
}

/** A Parquet row group as planning sees it: the bytes its used column chunks span and decode to. */
export interface RowGroupExtent {
  /** Bytes [start, end) of the file spanned by the row group's used column chunks. */
  readonly start: number;
  readonly end: number;
  /** Those chunks' uncompressed size: what a processor decodes, the partition size's measure. */
  readonly bytes: number;
}

/**
 * Groups consecutive row groups into partitions of at most `partitionBytes` decoded bytes each
 * (a row group is never cut, so one larger than that is a partition of its own). Measured
 * uncompressed, a partition holds about as many records as a CSV range of the same size would
 * hold, whatever the codec: zstd shrinks the sales file 6×, and compressed bytes would make its
 * partitions six times longer to process.
 */
export function planRowGroups(input: { key: string; groups: readonly RowGroupExtent[]; partitionBytes: number }): PartitionPlan[] {
  const plans: PartitionPlan[] = [];
  let first = 0;
  let bytes = 0;
  const close = (end: number) => {
    const spans = input.groups.slice(first, end).filter((g) => g.end > g.start);
    plans.push({
      idx: plans.length,
      sourceKey: input.key,
      rangeStart: spans.length > 0 ? Math.min(...spans.map((g) => g.start)) : 0,
      rangeEnd: spans.length > 0 ? Math.max(...spans.map((g) => g.end)) : 0,
      // The uploaded object itself, read at its pinned version (exact ranges are staged parts).
      exactRange: false,
      rowGroups: { start: first, end },
    });
    first = end;
    bytes = 0;
  };
  input.groups.forEach((group, i) => {
    if (i > first && bytes + group.bytes > input.partitionBytes) close(i);
    bytes += group.bytes;
  });
  if (first < input.groups.length) close(input.groups.length);
  return plans;
}
