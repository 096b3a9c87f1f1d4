import { BatchflowError } from '../errors.ts';
import { CsvProblem, FieldQuoting, createCsvScanner, type CsvRecord } from './csv.ts';
import type { RecordLayout } from './sink.ts';

/** A CSV header that cannot be used: empty, malformed, or naming a column twice. */
export class HeaderError extends BatchflowError {
  override name = 'HeaderError';
}

/** A CSV object's header: its column names and where its data records begin. */
export interface CsvHeader {
  readonly columns: string[];
  /** Byte position of the first data record (a UTF-8 BOM and the header's line end included). */
  readonly dataStart: number;
  /** Physical lines the header takes (more than 1 when a quoted name holds a line break). */
  readonly headerLines: number;
}

const BOM = [0xef, 0xbb, 0xbf] as const;
const LF = 10;
const CR = 13;

/**
 * Parses the header (first record) of a CSV object from its first bytes; null when they end
 * before the header does and more of the object follows. Throws HeaderError when it is empty,
 * malformed, or repeats a column name.
 *
 * @example
 * parseCsvHeader(Buffer.from('\uFEFFts,region\n2024-01-01,north\n'), false);
 * // → { columns: ['ts', 'region'], dataStart: 13, headerLines: 1 }
 */
export function parseCsvHeader(bytes: Uint8Array, atEndOfObject: boolean): CsvHeader | null {
  const bomLength = BOM.every((b, i) => bytes[i] === b) ? BOM.length : 0;
  const text = bytes.subarray(bomLength);
  if (text[0] === LF || (text[0] === CR && text[1] === LF)) throw new HeaderError('empty header: the first line is blank');

  let header: { columns: string[]; size: number; problem: CsvProblem; problemField: number } | undefined;
  const scanner = createCsvScanner({ storedFields: Infinity, maxRecordBytes: Infinity }, (record) => {
    header ??= {
      columns: columnNames(record),
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
  if (header.problem !== CsvProblem.none) {
    throw new HeaderError(`malformed header: column ${header.problemField + 1} has ${problemText(header.problem)}`);
  }

  const firstAt = new Map<string, number>();
  header.columns.forEach((name, i) => {
    const first = firstAt.get(name);
    if (first !== undefined) {
      throw new HeaderError(`duplicate column name ${JSON.stringify(name)}: columns ${first + 1} and ${i + 1}`);
    }
    firstAt.set(name, i);
  });

  let headerLines = 0;
  for (let i = 0; i < header.size; i++) if (text[i] === LF) headerLines++;
  return { columns: header.columns, dataStart: bomLength + header.size, headerLines };
}

/** The columns a CSV layout reads (time, dimensions, metrics) that its header lacks; none for NDJSON. */
export function missingColumns(layout: RecordLayout): string[] {
  if (layout.format === 'ndjson') return [];
  const present = new Set(layout.columns);
  const needed = new Set([layout.timeColumn, ...layout.dimensions, ...layout.metrics]);
  return [...needed].filter((column) => !present.has(column));
}

function columnNames(record: CsvRecord): string[] {
  const names: string[] = [];
  for (let i = 0; i < record.fieldCount; i++) {
    const name = record.bytes.toString('utf8', record.starts[i], record.ends[i]);
    names.push(record.quoting[i] === FieldQuoting.quotedEscaped ? name.replaceAll('""', '"') : name);
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
