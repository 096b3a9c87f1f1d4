import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findRecordStart, ownRecordsStart, type BoundaryOptions } from '../../../lib/process/boundary.ts';
import { fromUnits, toUnits, unitBoundaryOptions, unitRangeRead } from '../../../lib/process/utf16Units.ts';
import { csvText, referenceParse } from '../parse/csvText.ts';

const HEADER = 'ts,"na""me",amount\r\n';
const BOM = '\uFEFF';

/** A UTF-16 object of BOM + header + text, written as Node writes UTF-16LE (swapped for BE). */
function utf16Object(text: string, bigEndian: boolean) {
  const le = Buffer.from(BOM + HEADER + text, 'utf16le');
  const bytes = bigEndian ? Buffer.from(le).swap16() : le;
  const dataStart = Buffer.byteLength(BOM + HEADER, 'utf16le');
  // Record starts by quote parity over the text's characters, as byte positions (2 per unit).
  const starts = [dataStart];
  let quotes = 0;
  let units = 0;
  let longest = 1;
  let last = dataStart;
  for (const c of text) {
    units += c.length;
    if (c === '"') quotes++;
    else if (c === '\n' && quotes % 2 === 0) {
      const at = dataStart + 2 * units;
      longest = Math.max(longest, Buffer.byteLength(text.slice((last - dataStart) / 2, units)));
      starts.push(at);
      last = at;
    }
  }
  longest = Math.max(longest, Buffer.byteLength(text.slice((last - dataStart) / 2)));
  const options: BoundaryOptions = { format: 'csv', objectSize: bytes.length, dataStart, maxRecordBytes: longest };
  return { bytes, dataStart, starts, options };
}

function reader(bytes: Uint8Array) {
  return async (start: number, end: number) => {
    if (start < 0 || end > bytes.length || start >= end) throw new Error(`bad range [${start}, ${end})`);
    return bytes.subarray(start, end);
  };
}

/** The boundary at byte `at` of a UTF-16 object, searched over its units. */
async function utf16RecordStart(bytes: Uint8Array, at: number, options: BoundaryOptions, bigEndian: boolean): Promise<number> {
  const read = unitRangeRead(reader(bytes), bigEndian);
  const units = unitBoundaryOptions(options);
  const start = await findRecordStart(read, toUnits(at), units);
  return fromUnits(await ownRecordsStart(read, start, units.objectSize, units), options);
}

describe('record boundaries of UTF-16 objects, over their code units', () => {
  it('finds the first record start at or after every byte offset, odd ones included, LE and BE', async () => {
    await fc.assert(
      fc.asyncProperty(csvText({ columns: 3, anchored: true }), fc.boolean(), async ({ text }, bigEndian) => {
        // Prepare
        const { bytes, dataStart, starts, options } = utf16Object(text, bigEndian);

        for (let at = 0; at <= bytes.length; at++) {
          // Act
          const start = await utf16RecordStart(bytes, at, options, bigEndian);

          // Assess
          expect(start).toBe(at <= dataStart ? dataStart : (starts.find((s) => s >= at) ?? bytes.length));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('cuts UTF-16 objects anywhere into partitions whose decoded text parses to the whole file’s records', async () => {
    await fc.assert(
      fc.asyncProperty(
        csvText({ columns: 4, anchored: true, maxRecords: 40 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        fc.boolean(),
        async ({ text }, fractions, bigEndian) => {
          // Prepare
          const { bytes, dataStart, options } = utf16Object(text, bigEndian);
          const cuts = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
          const points = [dataStart, ...cuts, bytes.length];

          // Act
          const boundaries = await Promise.all(points.map((at) => utf16RecordStart(bytes, at, options, bigEndian)));
          const decoder = new TextDecoder(bigEndian ? 'utf-16be' : 'utf-16le');
          const partitions = boundaries.slice(0, -1).map((from, i) => decoder.decode(bytes.subarray(from, boundaries[i + 1])));

          // Assess
          expect(boundaries.every((b) => b % 2 === 0)).toBe(true);
          expect(partitions.join('')).toBe(text);
          expect(partitions.flatMap((part) => referenceParse(part))).toEqual(referenceParse(text));
        },
      ),
      { numRuns: 200 },
    );
  });
});
