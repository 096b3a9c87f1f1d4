import { asBuffer, createCsvScanner } from '../parse/csv.ts';

/**
 * Cuts a stream of records into parts of whole records, for objects that cannot be range-read
 * (gzip): the splitter streams the decompressed data through a cutter and stages each part.
 */

export interface PartCutterOptions {
  readonly format: 'csv' | 'ndjson';
  /** Every part but the last is at least this long; a part ends at the first record end after it. */
  readonly targetBytes: number;
}

export interface PartCutter {
  /** Takes the next chunk of data; returns the parts it completes (often none). */
  push(chunk: Uint8Array): Buffer[];
  /** Ends the data; returns the last part, if any bytes are left. */
  end(): Buffer[];
  /** Bytes held for the part in progress: at most a part and a record, unless a record never ends. */
  pendingBytes(): number;
}

const LF = 10;

/**
 * A cutter for data that starts at a record (after the header). Parts are cut only after an LF
 * that ends a record — for CSV, as the parser sees it: outside quotes, and after a malformed record
 * exactly where the parser resumes — so each part parses to the same records as the whole.
 *
 * @example
 * const cutter = createPartCutter({ format: 'csv', targetBytes: 8 << 20 });
 * for await (const chunk of gunzipped) for (const part of cutter.push(chunk)) await stage(part);
 * for (const part of cutter.end()) await stage(part);
 */
export function createPartCutter(options: PartCutterOptions): PartCutter {
  const targetBytes = Math.max(1, options.targetBytes);
  /** Bytes not yet in a part, and their stream position. */
  let pending: Buffer[] = [];
  let partStart = 0;
  let consumed = 0;
  let cuts: number[] = [];
  const lastCut = () => (cuts.length > 0 ? cuts[cuts.length - 1] : partStart);

  // maxRecordBytes 0: the scanner keeps no record's bytes, it only follows where records end (and
  // so cannot resume after an open quote: openQuoteLimit Infinity keeps quotes followed to the end).
  const scanner =
    options.format === 'csv'
      ? createCsvScanner({ storedFields: 0, maxRecordBytes: 0, openQuoteLimit: Infinity }, (record) => {
          const end = record.offset + record.size;
          if (end - lastCut() >= targetBytes) cuts.push(end);
        })
      : undefined;

  /** Record ends in a chunk of NDJSON: after each LF at or past the target. */
  function findLineCuts(data: Buffer, base: number): void {
    for (;;) {
      const from = Math.max(0, lastCut() + targetBytes - 1 - base);
      const lf = from < data.length ? data.indexOf(LF, from) : -1;
      if (lf < 0) return;
      cuts.push(base + lf + 1);
    }
  }

  return {
    push(chunk) {
      const data = asBuffer(chunk);
      const base = consumed;
      consumed += data.length;
      if (scanner) scanner.push(data);
      else findLineCuts(data, base);
      const parts: Buffer[] = [];
      let from = 0;
      for (const cut of cuts) {
        pending.push(data.subarray(from, cut - base));
        parts.push(Buffer.concat(pending));
        pending = [];
        from = cut - base;
        partStart = cut;
      }
      cuts = [];
      // Copied: the caller may reuse its chunk, and a view would keep all of it alive.
      if (from < data.length) pending.push(Buffer.from(data.subarray(from)));
      return parts;
    },
    pendingBytes() {
      return consumed - partStart;
    },
    end() {
      scanner?.end();
      cuts = [];
      const rest = Buffer.concat(pending);
      pending = [];
      partStart = consumed;
      return rest.length > 0 ? [rest] : [];
    },
  };
}
