import fc from 'fast-check';
import { parse } from 'csv-parse/sync';

/**
 * Generators of valid CSV text and an independent reference parse (csv-parse), shared by the
 * parser, boundary and cutter tests.
 */

/** Unquoted field text: no `,`, `"`, CR or LF; spaces and non-ASCII kept. */
export const unquotedField = fc.stringMatching(/^[a-z0-9 é€😀._-]{0,6}$/u);

/** Quoted field content (unescaped): separators, line breaks and quotes included. */
export const quotedContent = fc
  .array(fc.constantFrom('a', 'b', 'Z', ' ', ',', '\n', '\r\n', '"', 'é', '😀', '1'), { maxLength: 8 })
  .map((parts) => parts.join(''));

/** A field as written, with the value it stands for. */
export interface WrittenField {
  readonly written: string;
  readonly value: string;
}

export const quote = (value: string): string => `"${value.replaceAll('"', '""')}"`;

export const writtenField: fc.Arbitrary<WrittenField> = fc.oneof(
  unquotedField.map((value) => ({ written: value, value })),
  quotedContent.map((value) => ({ written: quote(value), value })),
  fc.constant({ written: '""', value: '' }),
);

/** A quoted field that starts with a letter, as most quoting writers produce for text columns. */
export const anchoredField: fc.Arbitrary<WrittenField> = fc
  .tuple(fc.constantFrom('k', 'p', 'Q'), quotedContent)
  .map(([head, rest]) => ({ written: quote(head + rest), value: head + rest }));

export interface CsvTextOptions {
  readonly columns: number;
  readonly maxRecords?: number;
  /** Put a quoted field starting with a letter first in every record. */
  readonly anchored?: boolean;
  /** Fields never quoted. */
  readonly plain?: boolean;
}

/** CSV text (LF or CRLF line ends, blank lines, with or without a final line end) and its records. */
export function csvText(options: CsvTextOptions): fc.Arbitrary<{ text: string; records: string[][] }> {
  const field = options.plain ? unquotedField.map((value) => ({ written: value, value })) : writtenField;
  const record = fc
    .tuple(options.anchored ? anchoredField : field, fc.array(field, { minLength: options.columns - 1, maxLength: options.columns - 1 }))
    .map(([first, rest]) => [first, ...rest])
    // A single empty unquoted field would be a blank line, which is no record.
    .filter((fields) => fields.length > 1 || fields[0].written !== '');
  return fc
    .record({
      records: fc.array(record, { minLength: 1, maxLength: options.maxRecords ?? 12 }),
      lineEnds: fc.array(fc.constantFrom('\n', '\r\n', '\n\n', '\r\n\r\n'), { minLength: 12, maxLength: 12 }),
      finalLineEnd: fc.boolean(),
    })
    .map(({ records, lineEnds, finalLineEnd }) => {
      const text = records
        .map((fields, i) => {
          const line = fields.map((f) => f.written).join(',');
          return i < records.length - 1 || finalLineEnd ? line + lineEnds[i % lineEnds.length] : line;
        })
        .join('');
      return { text, records: records.map((fields) => fields.map((f) => f.value)) };
    });
}

/** csv-parse's reading of a CSV text with this project's rules: LF or CRLF, blank lines skipped. */
export function referenceParse(text: string): string[][] {
  return parse(text, {
    relax_column_count: true,
    skip_empty_lines: true,
    bom: true,
    record_delimiter: ['\r\n', '\n'],
  }) as string[][];
}

/** Splits bytes into chunks at the given sizes (cycled), the way a stream might deliver them. */
export function chunked(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let i = 0;
  for (let at = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}
