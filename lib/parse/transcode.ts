import type { DatasetEncoding } from '../datasets/definition.ts';

/**
 * Text encodings other than UTF-8, read by transcoding them to UTF-8 while streaming: the CSV and
 * NDJSON readers stay byte-level UTF-8 (their hot path is untouched), and only objects in another
 * encoding pay for one decode and one encode per chunk.
 */

/** What a job's object is written in: UTF-16 by its byte order mark, the rest as its dataset declares. */
export type TextEncoding = DatasetEncoding | 'utf-16le' | 'utf-16be';

/** The encoding of an object and the length of its byte order mark (0 without one). */
export interface DetectedEncoding {
  readonly encoding: TextEncoding;
  readonly bomLength: number;
}

/**
 * The encoding of an object from its first bytes and the dataset's declared encoding. A byte order
 * mark wins over the declaration: FF FE is UTF-16LE, FE FF UTF-16BE, EF BB BF UTF-8 (as an Excel
 * "Unicode Text" export is UTF-16LE whatever the dataset says). FF FE 00 00 is UTF-32LE, which is
 * not read: it is left to the splitter's encoding check (lib/split/encoding.ts) to name.
 */
export function detectEncoding(head: Uint8Array, declared: DatasetEncoding): DetectedEncoding {
  const [a, b, c, d] = head;
  if (a === 0xff && b === 0xfe && !(c === 0 && d === 0)) return { encoding: 'utf-16le', bomLength: 2 };
  if (a === 0xfe && b === 0xff) return { encoding: 'utf-16be', bomLength: 2 };
  // The UTF-8 path skips its own BOM (lib/parse/header.ts).
  if (a === 0xef && b === 0xbb && c === 0xbf) return { encoding: 'utf-8', bomLength: 0 };
  return { encoding: declared, bomLength: 0 };
}

/** Bytes per code unit: the alignment of record boundaries and partition cuts (2 for UTF-16). */
export function unitBytes(encoding: TextEncoding): 1 | 2 {
  return encoding === 'utf-16le' || encoding === 'utf-16be' ? 2 : 1;
}

/** Streams bytes in one encoding out as UTF-8. */
export interface Transcoder {
  /** The UTF-8 text of the next source bytes; a code unit or surrogate pair cut by the chunk's end waits for the next. */
  push(chunk: Uint8Array): Buffer;
  /** The UTF-8 of what is held (a lone byte or high surrogate at the very end: U+FFFD). */
  end(): Buffer;
  /**
   * The source offset (from the first byte pushed) of a UTF-8 output offset that starts a line —
   * 0, or just after an LF — as readers report a record's start. Any other offset maps to the
   * start of its line.
   */
  sourceOffset(outputOffset: number): number;
}

const HIGH_SURROGATE_FIRST = 0xd800;
const HIGH_SURROGATE_LAST = 0xdbff;
const LF = 10;

/**
 * A transcoder from `encoding` to UTF-8. Invalid input becomes U+FFFD, as invalid UTF-8 does in
 * the UTF-8 readers: a lone surrogate or an odd trailing byte of UTF-16. `latin1` is ISO-8859-1
 * (each byte its own code point, 0x80–0x9F the C1 controls); `windows-1252` maps 0x80–0x9F to
 * `€`, `‚`, … as the WHATWG Encoding Standard does (whose label "latin1" means windows-1252).
 *
 * @example
 * const t = createTranscoder('utf-16le');
 * reader.push(t.push(chunk)); … reader.push(t.end());
 */
export function createTranscoder(encoding: Exclude<TextEncoding, 'utf-8'>): Transcoder {
  const decode = decoderOf(encoding);
  const unit = unitBytes(encoding);
  // Line starts seen so far, as (output offset, source offset) pairs in increasing order.
  let outStarts = new Float64Array(1024);
  let srcStarts = new Float64Array(1024);
  let lineStarts = 1;
  let outputBytes = 0;
  let sourceBytes = 0;

  function noteLines(text: string, out: Buffer): void {
    // The k-th LF of the text is the k-th LF of its UTF-8: both are searched natively, in step.
    let i = text.indexOf('\n');
    let o = i < 0 ? -1 : out.indexOf(LF);
    while (i >= 0) {
      if (lineStarts === outStarts.length) {
        outStarts = grow(outStarts);
        srcStarts = grow(srcStarts);
      }
      outStarts[lineStarts] = outputBytes + o + 1;
      srcStarts[lineStarts] = sourceBytes + unit * (i + 1);
      lineStarts++;
      i = text.indexOf('\n', i + 1);
      o = out.indexOf(LF, o + 1);
    }
  }

  function emit(text: string): Buffer {
    const out = Buffer.from(text, 'utf8');
    noteLines(text, out);
    outputBytes += out.length;
    sourceBytes += unit * text.length;
    return out;
  }

  return {
    push(chunk) {
      return emit(decode.push(chunk));
    },
    end() {
      return emit(decode.end());
    },
    sourceOffset(outputOffset) {
      let lo = 0;
      let hi = lineStarts - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (outStarts[mid] <= outputOffset) lo = mid;
        else hi = mid - 1;
      }
      return srcStarts[lo];
    },
  };
}

function grow(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** Decodes chunks to text, holding what a chunk's end cuts (one text character per source unit for UTF-16 and single bytes). */
interface ChunkDecoder {
  push(chunk: Uint8Array): string;
  end(): string;
}

const C1_CONTROLS = /[\u0080-\u009f]/g;

/**
 * windows-1252's 0x80–0x9F (WHATWG index-windows-1252; its other bytes are latin1's). Written out
 * because Node 20's TextDecoder('windows-1252') decodes them as latin1 (its fast path).
 */
const WINDOWS_1252_C1 = [
  '€', '\u0081', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u008d', 'Ž', '\u008f',
  '\u0090', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u009d', 'ž', 'Ÿ',
];

function decoderOf(encoding: Exclude<TextEncoding, 'utf-8'>): ChunkDecoder {
  if (encoding === 'latin1') {
    return { push: (chunk) => asBuffer(chunk).toString('latin1'), end: () => '' };
  }
  if (encoding === 'windows-1252') {
    return { push: (chunk) => asBuffer(chunk).toString('latin1').replace(C1_CONTROLS, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]), end: () => '' };
  }
  return utf16Decoder(encoding === 'utf-16be');
}

/**
 * UTF-16 decoded unit by unit, so that text index i is source unit i (what sourceOffset counts):
 * TextDecoder would replace a lone surrogate by U+FFFD too, but hides which bytes it held back.
 * Lone surrogates stay in the text and become U+FFFD when encoded as UTF-8.
 */
function utf16Decoder(bigEndian: boolean): ChunkDecoder {
  let held: Buffer = Buffer.alloc(0);
  const text = (bytes: Buffer) => (bigEndian ? Buffer.from(bytes).swap16() : bytes).toString('utf16le');
  return {
    push(chunk) {
      const bytes = held.length > 0 ? Buffer.concat([held, asBuffer(chunk)]) : asBuffer(chunk);
      let usable = bytes.length & ~1;
      if (usable >= 2) {
        const last = bigEndian ? bytes.readUInt16BE(usable - 2) : bytes.readUInt16LE(usable - 2);
        // A high surrogate waits for its low half in the next chunk.
        if (last >= HIGH_SURROGATE_FIRST && last <= HIGH_SURROGATE_LAST) usable -= 2;
      }
      held = Buffer.from(bytes.subarray(usable));
      return text(bytes.subarray(0, usable));
    },
    end() {
      const rest = held;
      held = Buffer.alloc(0);
      // A high surrogate alone (U+FFFD once encoded), an odd byte, or both: one U+FFFD, as WHATWG decodes them.
      return rest.length === 0 ? '' : rest.length === 2 ? text(rest) : '\uFFFD';
    },
  };
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Source bytes taken by the UTF-8 text `utf8` (which starts and ends at whole characters) once
 * written in `encoding`: the byte length for UTF-8, one unit per UTF-16 unit otherwise.
 */
export function sourceLength(utf8: Uint8Array, encoding: TextEncoding): number {
  if (encoding === 'utf-8') return utf8.length;
  return unitBytes(encoding) * asBuffer(utf8).toString('utf8').length;
}
