import { describe, expect, it } from 'vitest';
import { PartitionMessageError, parsePartitionMessage } from '../../../lib/process/partitionMessage.ts';

describe('parsePartitionMessage', () => {
  it('reads a byte-range partition’s message and a Parquet partition’s, with its row groups', () => {
    // Act
    const plain = parsePartitionMessage('{"v":1,"jobId":7,"idx":3}');
    const parquet = parsePartitionMessage(JSON.stringify({ v: 1, jobId: 7, idx: 3, rowGroups: [4, 6] }));

    // Assess
    expect(plain).toEqual({ v: 1, jobId: 7, idx: 3 });
    expect(parquet).toEqual({ v: 1, jobId: 7, idx: 3, rowGroups: [4, 6] });
  });

  it.each([
    ['not a pair', [4]],
    ['not integers', [0.5, 2]],
    ['a negative start', [-1, 2]],
    ['an end before its start', [3, 2]],
    ['not an array', '0-2'],
  ])('refuses row groups that are %s, quoting the body', (_, rowGroups) => {
    // Prepare
    const body = JSON.stringify({ v: 1, jobId: 7, idx: 3, rowGroups });

    // Act
    const parse = () => parsePartitionMessage(body);

    // Assess
    expect(parse).toThrow(PartitionMessageError);
    expect(parse).toThrow(`partition message's rowGroups is not [start, end) of row group indices: ${body}`);
  });
});
