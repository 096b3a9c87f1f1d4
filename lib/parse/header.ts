import { BatchflowError } from '../errors.ts';
import { CsvProblem, FieldQuoting, RFC_4180, createCsvScanner, unescaper, type CsvDialect, type CsvRecord, type LineEnd } from './csv.ts';
import type { RecordLayout } from './sink.ts';

/** A CSV header that cannot be used: empty, malformed, or naming a column twice. */
export class HeaderError extends BatchflowError {
  override name = 'HeaderError';
}

/** A CSV object's header: its column names and where its data records begin. */
export interface CsvHeader {
  readonly columns: string[];
  /** Byte position of the first data record (a UTF-8 BOM, skipped lines and the header's line end included). */
  readonly dataStart: number;
  /** Physical lines before the data: skipped lines plus the header's (more than 1 when a quoted name holds a line break). */
  readonly headerLines: number;
  /** The object's line end, detected from its first line: LF (or CRLF), or CR alone. */
  readonly lineEnd: LineEnd;
}

/** How the object is written (lib/datasets CsvOptions, as bytes); the line end is detected. */
export interface HeaderOptions {
  readonly delimiter: number;
  readonly quote: number;
  /** @default the quote (doubled) */
  readonly escape?: number;
  /** Whether the first line after skipRows names the fields; without one, `columns` does. */
  readonly header: boolean;
  /** Required without a header; with one, they replace its names (which must be as many). */
  readonly columns?: readonly string[];
  readonly skipRows: number;
}

const DEFAULT_OPTIONS: HeaderOptions = { delimiter: RFC_4180.delimiter, quote: RFC_4180.quote, header: true, skipRows: 0 };
const BOM = [0xef, 0xbb, 0xbf] as const;
const LF = 10;
const CR = 13;

/**
 * Parses the header (first record after `skipRows` lines) of a CSV object from its first bytes;
 * null when they end before the header does and more of the object follows. Throws HeaderError
 * when it is empty, malformed, or repeats a column name. Without a header (`header: false`) the
 * columns are the options' and the data starts after the skipped lines.
 *
 * The line end is the first CR or LF outside quotes: a CR followed by LF is CRLF (read as LF), a
 * CR alone makes CR the line end of the whole object.
 *
 * @example
 * parseCsvHeader(Buffer.from('\uFEFFts,region\n2024-01-01,north\n'), false);
 * // → { columns: ['ts', 'region'], dataStart: 13, headerLines: 1, lineEnd: 10 }
 */
export function parseCsvHeader(bytes: Uint8Array, atEndOfObject: boolean, options: HeaderOptions = DEFAULT_OPTIONS): CsvHeader | null {
  const bomLength = BOM.every((b, i) => bytes[i] === b) ? BOM.length : 0;
  // Skipped lines are free text, whose quotes need not pair: only a header's quotes are followed.
  const lineEnd = detectLineEnd(bytes, bomLength, atEndOfObject, options.skipRows > 0 ? -1 : options.quote, options.escape ?? -1);
  if (lineEnd === undefined) return null;
  // The skipped lines are free text: only their line ends count, not their quotes.
  let from = bomLength;
  for (let skipped = 0; skipped < options.skipRows; skipped++) {
    const at = bytes.indexOf(lineEnd, from);
    if (at < 0) {
      if (!atEndOfObject) return null;
      throw new HeaderError(`the object has ${skipped} line${skipped === 1 ? '' : 's'}, fewer than skipRows (${options.skipRows}) before the ${options.header ? 'header' : 'data'}`);
    }
    from = at + 1;
  }
  if (!options.header) {
    // As with NDJSON: an empty upload is a broken export, not zero records.
    if (atEndOfObject && bytes.length === bomLength) throw new HeaderError('the object is empty (no record)');
    return { columns: [...options.columns!], dataStart: from, headerLines: options.skipRows, lineEnd };
  }

  const text = bytes.subarray(from);
  const crlf = lineEnd === LF;
  if (text[0] === lineEnd || (crlf && text[0] === CR && text[1] === LF)) {
    throw new HeaderError(`empty header: line ${options.skipRows + 1} is blank`);
  }
  const dialect: CsvDialect = { delimiter: options.delimiter, quote: options.quote, lineEnd, ...(options.escape === undefined ? {} : { escape: options.escape }) };
  const unescape = unescaper(dialect);
  let header: { columns: string[]; size: number; problem: CsvProblem; problemField: number } | undefined;
  const scanner = createCsvScanner({ storedFields: Infinity, maxRecordBytes: Infinity, dialect }, (record) => {
    header ??= {
      columns: columnNames(record, unescape),
      size: record.size,
      problem: record.problem,
      problemField: record.problemField,
    };
  });
  scanner.push(text);
  if (header === undefined) {
    if (!atEndOfObject) return null;
    scanner.end();
  }
  if (header === undefined || (header.columns.length === 1 && header.columns[0] === '')) {
    throw new HeaderError('empty header: the object has no column names');
  }
  let headerLines = 0;
  for (let i = 0; i < header.size; i++) if (text[i] === lineEnd) headerLines++;
  const result = { dataStart: from + header.size, headerLines: options.skipRows + headerLines, lineEnd };
  if (header.problem !== CsvProblem.none) {
    throw new HeaderError(`malformed header: column ${header.problemField + 1} has ${problemText(header.problem)}${severalLines(header.columns, headerLines)}`);
  }
  if (options.columns) {
    if (options.columns.length !== header.columns.length) {
      throw new HeaderError(`the header has ${header.columns.length} fields, columns names ${options.columns.length}: columns renames the header's fields one for one`);
    }
    return { columns: [...options.columns], ...result };
  }

  const firstAt = new Map<string, number>();
  header.columns.forEach((name, i) => {
    const first = firstAt.get(name);
    if (first !== undefined) {
      throw new HeaderError(`duplicate column name ${JSON.stringify(name)}: columns ${first + 1} and ${i + 1}${severalLines(header!.columns, headerLines)}`);
    }
    firstAt.set(name, i);
  });
  return { columns: header.columns, ...result };
}

/**
 * What a header whose names hold line breaks most likely is (lines of data read as one: a quote
 * opened in the header and closed lines later), said so rather than left to a symptom.
 */
function severalLines(columns: readonly string[], lines: number): string {
  const broken = columns.findIndex((name) => name.includes('\n') || name.includes('\r'));
  if (broken < 0) return '';
  return `; the header takes ${lines} lines and column ${broken + 1} holds a line break: it looks like several lines of data (is the quote character right, or does the file have a header?)`;
}

/**
 * The line end of the object: the first CR or LF outside quotes from its start; undefined when
 * the bytes end before one (or on a CR whose next byte is not there yet) and more follow.
 */
function detectLineEnd(bytes: Uint8Array, from: number, atEnd: boolean, quote: number, escape: number): LineEnd | undefined {
  let quoted = false;
  for (let i = from; i < bytes.length; i++) {
    const c = bytes[i];
    if (quoted && c === escape && escape !== quote) i++;
    else if (c === quote) quoted = !quoted;
    else if (!quoted && c === LF) return LF;
    else if (!quoted && c === CR) {
      if (i + 1 < bytes.length) return bytes[i + 1] === LF ? LF : CR;
      return atEnd ? CR : undefined;
    }
  }
  return atEnd ? LF : undefined;
}

/** The columns a CSV layout reads (time, dimensions, metrics) that its header lacks; none for NDJSON. */
export function missingColumns(layout: RecordLayout): string[] {
  if (layout.format === 'ndjson') return [];
  const present = new Set(layout.columns);
  const needed = new Set([layout.timeColumn, ...layout.dimensions, ...layout.metrics]);
  return [...needed].filter((column) => !present.has(column));
}

function columnNames(record: CsvRecord, unescape: (text: string) => string): string[] {
  const names: string[] = [];
  for (let i = 0; i < record.fieldCount; i++) {
    const name = record.bytes.toString('utf8', record.starts[i], record.ends[i]);
    names.push(record.quoting[i] === FieldQuoting.quotedEscaped ? unescape(name) : name);
  }
  return names;
}

function problemText(problem: CsvProblem): string {
  switch (problem) {
    case CsvProblem.strayQuote:
      return 'a quote inside an unquoted name';
    case CsvProblem.textAfterQuote:
      return 'text after its closing quote';
    default:
      return 'an unterminated quoted name';
  }
}
