import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CsvProblem, FieldQuoting, RFC_4180, createCsvScanner, unescaper, type CsvDialect } from '../../../lib/parse/csv.ts';
import { parseCsvHeader, type HeaderOptions } from '../../../lib/parse/header.ts';
import { findRecordStart } from '../../../lib/process/boundary.ts';
import { chunked, quoteIn } from './csvText.ts';

/**
 * An external conformance corpus: the csv-spectrum package's files (github.com/maxogden/csv-spectrum),
 * each with the JSON its authors expect, read by the header parser and the scanner as the splitter
 * and the processors read them, whole, byte by byte, and cut into partitions at every offset.
 */
const root = dirname(createRequire(import.meta.url).resolve('csv-spectrum/package.json'));
const names = readdirSync(join(root, 'csvs')).map((file) => basename(file, '.csv')).sort();

/**
 * location_coordinates.csv disagrees with its own JSON (phone 2095257564 in the CSV, 1234567890 in
 * the JSON, and an object instead of a list of records), and its second field has bare `"` in an
 * unquoted field (`37.8"N`), which RFC 4180 does not allow: batchflow rejects that record, naming the field.
 */
const INCONSISTENT = 'location_coordinates';

/** Reads an object as the splitter (header) and a processor (records) do; rejects as [field, problem]. */
function readObject(bytes: Uint8Array, chunks: readonly Uint8Array[] | undefined, options?: HeaderOptions, dialect?: CsvDialect) {
  const header = parseCsvHeader(bytes, true, options)!;
  const unescape = unescaper(dialect ?? RFC_4180);
  const records: Record<string, string>[] = [];
  const rejects: [number, CsvProblem][] = [];
  const scanner = createCsvScanner({ storedFields: Infinity, maxRecordBytes: 1 << 20, dialect: dialect ?? { delimiter: 44, quote: 34, lineEnd: header.lineEnd } }, (r) => {
    if (r.problem !== CsvProblem.none) return void rejects.push([r.problemField, r.problem]);
    const record: Record<string, string> = {};
    header.columns.forEach((column, i) => {
      const text = r.bytes.toString('utf8', r.starts[i], r.ends[i]);
      record[column] = r.quoting[i] === FieldQuoting.quotedEscaped ? unescape(text) : text;
    });
    records.push(record);
  });
  const data = Buffer.from(bytes).subarray(header.dataStart);
  for (const chunk of chunks ? chunked(data, chunks.map((c) => c.length)) : [data]) scanner.push(chunk);
  scanner.end();
  return { header, records, rejects };
}

/** The corpus file rewritten in another dialect: every field quoted in `quote` (escaped by `escape`), `delimiter` between, `lineEnd` after. */
function rewrite(records: readonly Record<string, string>[], delimiter: string, quote: string, lineEnd: string, escape: string): Buffer {
  const line = (fields: string[]) => fields.map((f) => quoteIn(f, quote, escape)).join(delimiter) + lineEnd;
  return Buffer.from(line(Object.keys(records[0])) + records.map((r) => line(Object.values(r))).join(''), 'utf8');
}

describe('csv-spectrum conformance corpus', () => {
  it('finds the corpus (a test that reads nothing would pass everything)', () => {
    expect(names.length).toBeGreaterThanOrEqual(12);
  });

  it.each(names.filter((n) => n !== INCONSISTENT))('reads %s.csv into its expected JSON, whole and byte by byte', (name) => {
    // Prepare
    const bytes = readFileSync(join(root, 'csvs', `${name}.csv`));
    const expected = JSON.parse(readFileSync(join(root, 'json', `${name}.json`), 'utf8')) as Record<string, string>[];

    // Act
    const whole = readObject(bytes, undefined);
    const byteByByte = readObject(bytes, [Buffer.alloc(1)]);

    // Assess
    expect(whole.rejects).toEqual([]);
    expect(whole.records).toEqual(expected);
    expect(byteByByte.records).toEqual(expected);
  });

  it.each(names.filter((n) => n !== INCONSISTENT))('cuts %s.csv at every offset into partitions that read as the whole', async (name) => {
    // Prepare
    const bytes = readFileSync(join(root, 'csvs', `${name}.csv`));
    const expected = JSON.parse(readFileSync(join(root, 'json', `${name}.json`), 'utf8')) as Record<string, string>[];
    const { header } = readObject(bytes, undefined);
    const read = async (start: number, end: number) => bytes.subarray(start, end);
    const options = { format: 'csv', objectSize: bytes.length, dataStart: header.dataStart, maxRecordBytes: 64 } as const;

    for (let at = header.dataStart; at < bytes.length; at++) {
      // Act: two partitions, [dataStart, B(at)) and [B(at), end), each read on its own.
      const boundary = await findRecordStart(read, at, options);
      const parts = [bytes.subarray(0, boundary), Buffer.concat([bytes.subarray(0, header.dataStart), bytes.subarray(boundary)])];
      const records = parts.flatMap((part) => readObject(part, undefined).records);

      // Assess
      expect(records).toEqual(expected);
    }
  });

  it('rejects location_coordinates.csv\'s only record for its bare quote, naming the field', () => {
    // Prepare
    const bytes = readFileSync(join(root, 'csvs', `${INCONSISTENT}.csv`));

    // Act
    const { header, records, rejects } = readObject(bytes, undefined);

    // Assess
    expect(header.columns).toEqual(['Contact Phone Number', 'Location Coordinates', 'Cities', 'Counties']);
    expect(records).toEqual([]);
    expect(rejects).toEqual([[1, CsvProblem.strayQuote]]);
  });

  it.each([
    ['tabs and CR alone', '\t', '"', '\r', '"'],
    ['semicolons, single quotes and CRLF', ';', "'", '\r\n', "'"],
    ['pipes and backquotes', '|', '`', '\n', '`'],
    ['quotes escaped by a backslash', ',', '"', '\n', '\\'],
  ])('reads every corpus file rewritten with %s into the same expected JSON', (_, delimiter, quote, lineEnd, escape) => {
    for (const name of names.filter((n) => n !== INCONSISTENT)) {
      // Prepare
      const expected = JSON.parse(readFileSync(join(root, 'json', `${name}.json`), 'utf8')) as Record<string, string>[];
      const bytes = rewrite(expected, delimiter, quote, lineEnd, escape);
      const options: HeaderOptions = { delimiter: delimiter.charCodeAt(0), quote: quote.charCodeAt(0), escape: escape.charCodeAt(0), header: true, skipRows: 0 };
      const dialect: CsvDialect = { delimiter: options.delimiter, quote: options.quote, escape: options.escape, lineEnd: lineEnd === '\r' ? 13 : 10 };

      // Act
      const result = readObject(bytes, [Buffer.alloc(3)], options, dialect);

      // Assess
      expect(result.header.lineEnd).toBe(dialect.lineEnd);
      expect(result.records).toEqual(expected);
    }
  });
});
