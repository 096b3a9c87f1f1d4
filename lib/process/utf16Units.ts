import type { BoundaryOptions, RangeRead } from './boundary.ts';

/**
 * The record boundary search (boundary.ts) over a UTF-16 object, by reading its 2-byte code units
 * as the bytes of a narrower object: position i is the unit at byte 2i, an ASCII unit reads as its
 * byte and any other as 0x80 (never a separator, quote or line end). A unit above 0x7F is no
 * ASCII character in UTF-16, so the narrow object has the same line ends, quotes and separators in
 * the same order as the text: a record start there is one in the text, at twice the position.
 * Records are at most maxRecordBytes of UTF-8, hence at most maxRecordBytes units (a unit is at
 * least one UTF-8 byte), so boundary.ts's guarantees hold in units unchanged.
 */

const NOT_ASCII = 0x80;

/** The narrow object's reads: units [start, end) as bytes, from bytes [2·start, 2·end) of the object. */
export function unitRangeRead(read: RangeRead, bigEndian: boolean): RangeRead {
  const high = bigEndian ? 0 : 1;
  return async (start, end) => {
    const bytes = await read(2 * start, 2 * end);
    const units = new Uint8Array(bytes.length >> 1);
    for (let i = 0; i < units.length; i++) {
      const lo = bytes[2 * i + 1 - high];
      units[i] = bytes[2 * i + high] === 0 && lo < 0x80 ? lo : NOT_ASCII;
    }
    return units;
  };
}

/** The narrow object's options: its size, data start and the same record limit, in units. */
export function unitBoundaryOptions(options: BoundaryOptions): BoundaryOptions {
  return { ...options, objectSize: options.objectSize >> 1, dataStart: Math.ceil(options.dataStart / 2), windowBytes: options.windowBytes === undefined ? undefined : Math.max(1, options.windowBytes >> 1) };
}

/** A source byte position as a unit position (a cut at an odd byte moves to the next unit). */
export function toUnits(at: number): number {
  return Math.ceil(at / 2);
}

/** A unit position back in bytes; the narrow object's end is the object's (an odd last byte included). */
export function fromUnits(position: number, options: BoundaryOptions): number {
  return position >= options.objectSize >> 1 ? options.objectSize : 2 * position;
}
