/** One partition of an object: a byte range of it (nominal unless exactRange), or one staged part. */
export interface PartitionPlan {
  readonly idx: number;
  readonly sourceKey: string;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly exactRange: boolean;
}

/**
 * Cuts [dataStart, objectSize) into byte ranges of about `partitionBytes`. The ranges are nominal:
 * each processor moves both ends to the next record start (lib/process/boundary.ts), which lies at
 * most 2 × maxRecordBytes further on; ranges at least that long keep the moved ends in order, so
 * the partitions still tile the object exactly. With `unitBytes`, cuts round down to a unit, which
 * takes less than a unit off a range: `maxRecordBytes` is then in bytes of the object (units ×
 * the record limit) and keeps them at least as far apart as the boundary search needs.
 */
export function planByteRanges(input: {
  key: string;
  objectSize: number;
  dataStart: number;
  partitionBytes: number;
  maxRecordBytes: number;
  /** Cuts fall at dataStart plus multiples of this (2: UTF-16's code units). @default 1 */
  unitBytes?: number;
}): PartitionPlan[] {
  const dataBytes = input.objectSize - input.dataStart;
  if (dataBytes <= 0) return [];
  const step = Math.max(input.partitionBytes, 2 * input.maxRecordBytes + 1);
  // floor: every range is at least `step` long (the last absorbs the remainder).
  const count = Math.max(1, Math.floor(dataBytes / step));
  const unit = input.unitBytes ?? 1;
  const cut = (i: number) => input.dataStart + unit * Math.floor(Math.floor((dataBytes * i) / count) / unit);
  const plans: PartitionPlan[] = [];
  for (let i = 0; i < count; i++) {
    plans.push({
      idx: i,
      sourceKey: input.key,
      rangeStart: cut(i),
      rangeEnd: i === count - 1 ? input.objectSize : cut(i + 1),
      exactRange: false,
    });
  }
  return plans;
}
