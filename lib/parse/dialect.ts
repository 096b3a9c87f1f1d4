import type { CsvDialect, LineEnd } from './csv.ts';
import type { HeaderOptions } from './header.ts';

/** A dataset's CSV options as written in its definition (lib/datasets CsvOptions). */
export interface WrittenCsvOptions {
  readonly delimiter: string;
  readonly quote: string;
  /** Absent or the quote: the quote doubled. */
  readonly escape?: string;
  readonly header: boolean;
  readonly columns?: readonly string[];
  readonly skipRows: number;
}

/** The byte of a one-character option (validated ASCII by the definition). */
const byteOf = (text: string): number => text.charCodeAt(0);

/**
 * The scanner's dialect from a dataset's options and the line end its job detected.
 *
 * @example
 * dialectOf({ delimiter: '\t', quote: '"', header: true, skipRows: 0 }, 'cr');
 * // → { delimiter: 9, quote: 34, lineEnd: 13 }
 */
export function dialectOf(options: WrittenCsvOptions, lineEnd: 'lf' | 'cr'): CsvDialect {
  return { delimiter: byteOf(options.delimiter), quote: byteOf(options.quote), lineEnd: lineEndByte(lineEnd), ...escapeOf(options) };
}

/** The escape byte when it is not the quote (the scanner's default). */
function escapeOf(options: WrittenCsvOptions): { escape?: number } {
  return options.escape === undefined || options.escape === options.quote ? {} : { escape: byteOf(options.escape) };
}

/** Whether a quote may be escaped by another byte: then record boundaries cannot be found by quote parity (lib/split streams the object instead). */
export function escapesQuotes(options: WrittenCsvOptions): boolean {
  return escapeOf(options).escape !== undefined;
}

/** The byte of a line end as jobs record it. */
export function lineEndByte(lineEnd: 'lf' | 'cr'): LineEnd {
  return lineEnd === 'cr' ? 13 : 10;
}

/** What parseCsvHeader needs from a dataset's options. */
export function headerOptionsOf(options: WrittenCsvOptions): HeaderOptions {
  return {
    delimiter: byteOf(options.delimiter),
    quote: byteOf(options.quote),
    ...escapeOf(options),
    header: options.header,
    skipRows: options.skipRows,
    ...(options.columns ? { columns: options.columns } : {}),
  };
}
