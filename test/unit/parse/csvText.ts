import fc from 'fast-check';
import { parse } from 'csv-parse/sync';

/**
 * Generators of valid CSV text and an independent reference parse (csv-parse), shared by the
 * parser, boundary and cutter tests.
 */

/** Unquoted field text: no `,`, `"`, CR or LF; spaces and non-ASCII kept. */
export const unquotedField = fc.stringMatching(/^[a-z0-9 é€😀._-]{0,6}$/u);

/** A CSV dialect as a dataset writes it: one-character delimiter and quote, and the line end. */
export interface TextDialect {
  readonly delimiter: string;
  readonly quote: string;
  readonly lineEnd: 'lf' | 'cr';
  /** Inside quotes, escapes a quote or itself; absent: the quote doubled. */
  readonly escape?: string;
}

export const RFC_4180_TEXT: TextDialect = { delimiter: ',', quote: '"', lineEnd: 'lf' };

/** Dialects seen in real files (TSV, European `;`, `|`, single quotes, CR-only) and odd ones (a letter as delimiter). */
export const textDialect: fc.Arbitrary<TextDialect> = fc
  .record({
    delimiter: fc.constantFrom(',', '\t', ';', '|', ':', ' ', 'x'),
    quote: fc.constantFrom('"', "'", '`', '#'),
    lineEnd: fc.constantFrom<'lf' | 'cr'>('lf', 'cr'),
  });

/** The dialects above, and each with a backslash escaping quotes instead of the quote doubled. */
export const escapingDialect: fc.Arbitrary<TextDialect> = fc.tuple(textDialect, fc.boolean()).map(([d, backslash]) => (backslash ? { ...d, escape: '\\' } : d));

/** The dialect's bytes, as the scanner takes them. */
export const dialectBytes = (d: TextDialect) => ({
  delimiter: d.delimiter.charCodeAt(0),
  quote: d.quote.charCodeAt(0),
  lineEnd: d.lineEnd === 'cr' ? (13 as const) : (10 as const),
  ...(d.escape ? { escape: d.escape.charCodeAt(0) } : {}),
});

/** Unquoted field text in a dialect: without its delimiter, quote and line end (a LF is data in a CR file). */
function unquotedIn(d: TextDialect): fc.Arbitrary<string> {
  const chars = ['a', 'b', 'x', 'z', '0', '9', ' ', 'é', '€', '😀', '.', '_', '-', ',', ';', '|', '\t', "'", '"', '`', '#', '\\', ...(d.lineEnd === 'cr' ? ['\n'] : [])];
  return fc.array(fc.constantFrom(...chars.filter((c) => c !== d.delimiter && c !== d.quote)), { maxLength: 6 }).map((parts) => parts.join(''));
}

/** Quoted field content in a dialect: its delimiter, quote and every line break included. */
function quotedIn(d: TextDialect): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom('a', 'b', 'Z', ' ', 'é', '😀', '1', '\n', '\r\n', '\r', ',', '\\', d.delimiter, d.quote, '"'), { maxLength: 8 }).map((parts) => parts.join(''));
}

/** A value quoted in a dialect: its quotes doubled, or with an escape its quotes and escapes escaped. */
export const quoteIn = (value: string, q: string, escape?: string): string =>
  escape && escape !== q ? `${q}${[...value].map((c) => (c === q || c === escape ? escape + c : c)).join('')}${q}` : `${q}${value.replaceAll(q, q + q)}${q}`;

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
  /** @default RFC_4180_TEXT, whose fields are drawn from the generators above */
  readonly dialect?: TextDialect;
}

/** CSV text (LF or CRLF line ends, blank lines, with or without a final line end) and its records. */
export function csvText(options: CsvTextOptions): fc.Arbitrary<{ text: string; records: string[][] }> {
  const d = options.dialect;
  const unquoted = d ? unquotedIn(d) : unquotedField;
  const quoted: fc.Arbitrary<WrittenField> = d ? quotedIn(d).map((value) => ({ written: quoteIn(value, d.quote, d.escape), value })) : quotedContent.map((value) => ({ written: quote(value), value }));
  const field: fc.Arbitrary<WrittenField> = options.plain
    ? unquoted.map((value) => ({ written: value, value }))
    : d
      ? fc.oneof(unquoted.map((value) => ({ written: value, value })), quoted, fc.constant({ written: d.quote + d.quote, value: '' }))
      : writtenField;
  const anchored = d
    ? fc.tuple(fc.constantFrom('k', 'p', 'Q'), quotedIn(d)).map(([head, rest]) => ({ written: quoteIn(head + rest, d.quote, d.escape), value: head + rest }))
    : anchoredField;
  const separator = d?.delimiter ?? ',';
  const lineEnds = d?.lineEnd === 'cr' ? ['\r', '\r\r'] : ['\n', '\r\n', '\n\n', '\r\n\r\n'];
  const record = fc
    .tuple(options.anchored ? anchored : field, fc.array(field, { minLength: options.columns - 1, maxLength: options.columns - 1 }))
    .map(([first, rest]) => [first, ...rest])
    // A single empty unquoted field would be a blank line, which is no record.
    .filter((fields) => fields.length > 1 || fields[0].written !== '');
  return fc
    .record({
      records: fc.array(record, { minLength: 1, maxLength: options.maxRecords ?? 12 }),
      lineEnds: fc.array(fc.constantFrom(...lineEnds), { minLength: 12, maxLength: 12 }),
      finalLineEnd: fc.boolean(),
    })
    .map(({ records, lineEnds, finalLineEnd }) => {
      const text = records
        .map((fields, i) => {
          const line = fields.map((f) => f.written).join(separator);
          return i < records.length - 1 || finalLineEnd ? line + lineEnds[i % lineEnds.length] : line;
        })
        .join('');
      return { text, records: records.map((fields) => fields.map((f) => f.value)) };
    });
}

/** csv-parse's reading of a CSV text with this project's rules: LF or CRLF (or CR alone), blank lines skipped. */
export function referenceParse(text: string, dialect: TextDialect = RFC_4180_TEXT): string[][] {
  return parse(text, {
    relax_column_count: true,
    skip_empty_lines: true,
    bom: true,
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    escape: dialect.escape ?? dialect.quote,
    record_delimiter: dialect.lineEnd === 'cr' ? ['\r'] : ['\r\n', '\n'],
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
