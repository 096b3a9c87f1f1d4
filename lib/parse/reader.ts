import { CsvProblem, FieldQuoting, RFC_4180, createCsvScanner, unescaper, type CsvRecord } from './csv.ts';
import { HeaderError, missingColumns } from './header.ts';
import { createNdjsonReader } from './ndjson.ts';
import type { ReaderOptions, RecordReader } from './readerTypes.ts';
import { DEFAULT_VALUE_OPTIONS, type RecordLayout, type RecordSink } from './sink.ts';
import {
  END_TIME_MS,
  MAX_RECORD_DIMENSION_BYTES,
  MIN_TIME_MS,
  createDimensionDecoder,
  createNullMatcher,
  createNumberParser,
  createTimeParser,
  dimensionReason,
  isDecimalText,
  metricReason,
  parseDecimal,
  rawText,
  recordDimensionsReason,
  showValue,
  timeRangeReason,
} from './values.ts';

// Defined apart so the per-format readers (ndjson.ts) can implement them without importing this file.
export type { ReaderOptions, ReaderStats, RecordReader } from './readerTypes.ts';

/**
 * A reader for a range of records in the layout's format (for CSV: a range of data records, after
 * the header). Each record reaches the sink exactly once, accepted or rejected with its line
 * (counted from the range's start), offset (baseOffset + its position) and a reason naming the field
 * and the value. Throws HeaderError when a CSV layout needs columns its header lacks.
 *
 * @example
 * const reader = createRecordReader(layout, sink, { baseOffset: part.start, maxRecordBytes: 1 << 20 });
 * for await (const chunk of body) reader.push(chunk);
 * const { records, rejected } = reader.end();
 */
export function createRecordReader(layout: RecordLayout, sink: RecordSink, options: ReaderOptions): RecordReader {
  // Parquet is not a byte stream of records: its row groups are read by parquetReader.ts.
  if (layout.format === 'parquet') throw new TypeError('a Parquet layout is read by readParquetRowGroups, not a byte-stream reader');
  return layout.format === 'csv' ? createCsvReader(layout, sink, options) : createNdjsonReader(layout, sink, options);
}

function createCsvReader(layout: RecordLayout, sink: RecordSink, options: ReaderOptions): RecordReader {
  const missing = missingColumns(layout);
  if (missing.length > 0) {
    throw new HeaderError(`the header lacks column(s) ${missing.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  const { columns, timeFormat } = layout;
  const dialect = layout.dialect ?? RFC_4180;
  const unescape = unescaper(dialect);
  const values = layout.values ?? DEFAULT_VALUE_OPTIONS;
  const parseTime = createTimeParser(timeFormat, values.timeZone);
  const parseNumber = createNumberParser(values);
  // The default notation calls parseDecimal directly: the hot path stays as it was.
  const plainNumbers = parseNumber === parseDecimal;
  const emptyIsNull = values.nullValues.includes('');
  const isNullToken = createNullMatcher(values.nullValues);
  const nullSet = new Set(values.nullValues);
  const nullInvalid = values.onInvalidValue === 'null';
  const fieldCount = columns.length;
  const timeField = columns.indexOf(layout.timeColumn);
  const dimensionFields = layout.dimensions.map((d) => columns.indexOf(d));
  const metricFields = layout.metrics.map((m) => columns.indexOf(m));
  const dims: string[] = layout.dimensions.map(() => '');
  const metrics = new Float64Array(metricFields.length);
  const decode = createDimensionDecoder();
  const names = columns.map((c) => `field ${JSON.stringify(c)}`);
  const { minMs, endMs } = options.timeRange ?? { minMs: MIN_TIME_MS, endMs: END_TIME_MS };
  let accepted = 0;
  let rejected = 0;
  // Values nulled (onInvalidValue "null") per column: the record's own first, counted once it is accepted.
  const nulled = new Float64Array(fieldCount);
  const recordNulled = new Int32Array(fieldCount);

  /** Whether field i is one of the dataset's null values (an empty field is tested by the caller). */
  function isNull(record: CsvRecord, i: number): boolean {
    if (isNullToken === undefined) return false;
    // `""` pairs stand for one quote: compare the decoded text (rare).
    if (record.quoting[i] === 2 /* FieldQuoting.quotedEscaped */) return nullSet.has(text(record, i));
    return isNullToken(record.bytes, record.starts[i], record.ends[i]);
  }

  function reject(record: CsvRecord, reason: string): void {
    rejected++;
    sink.reject({
      line: record.line,
      offset: options.baseOffset + record.offset,
      reason,
      raw: rawText(record.bytes, record.start, record.end),
    });
  }

  /** Field i's value: its text with its escapes read (a doubled quote as one). */
  function text(record: CsvRecord, i: number): string {
    const value = record.bytes.toString('utf8', record.starts[i], record.ends[i]);
    return record.quoting[i] === FieldQuoting.quotedEscaped ? unescape(value) : value;
  }

  /** A field as written, quotes included (problem fields keep their positions from the opening quote). */
  function written(record: CsvRecord, i: number): string {
    return showValue(record.bytes.toString('utf8', record.starts[i], record.ends[i]));
  }

  function problemReason(record: CsvRecord): string {
    const i = record.problemField;
    if (record.problem === CsvProblem.tooLong) return `record exceeds ${options.maxRecordBytes} bytes`;
    if (record.problem === CsvProblem.openQuote) {
      const name = i < fieldCount ? names[i] : `field ${i + 1}`;
      // Only the header's fields have positions: past them starts[i] is out of bounds, and the
      // whole buffer (the scanner's allocUnsafe carry included) would be quoted.
      return `${name}: quoted field ${i < fieldCount ? `${written(record, i)} ` : ''}is not closed within ${options.maxRecordBytes} bytes or the range; the record ends at the line end after its opening quote`;
    }
    if (record.problem === CsvProblem.unterminated) {
      const name = i < fieldCount ? names[i] : `field ${i + 1}`;
      // A record past maxRecordBytes keeps only its first bytes, not its fields' positions: what
      // they hold then is another record's, and quoting it would name bytes of that one.
      const positioned = i < fieldCount && record.size <= options.maxRecordBytes;
      return `${name}: unterminated quoted field ${positioned ? written(record, i) : ''}`.trimEnd();
    }
    // A problem past the header's columns: the count says more than the field.
    if (i >= fieldCount) return `expected ${fieldCount} fields, found ${record.fieldCount}`;
    return record.problem === CsvProblem.strayQuote
      ? `${names[i]}: ${written(record, i)} has a quote inside an unquoted field`
      : `${names[i]}: ${written(record, i)} has text after its closing quote`;
  }

  const scanner = createCsvScanner({ storedFields: fieldCount, maxRecordBytes: options.maxRecordBytes, dialect }, (record) => {
    if (record.problem !== 0 /* CsvProblem.none */) return reject(record, problemReason(record));
    if (record.fieldCount !== fieldCount) {
      return reject(record, `expected ${fieldCount} fields, found ${record.fieldCount}`);
    }
    const bytes = record.bytes;
    const starts = record.starts;
    const ends = record.ends;
    const timeStart = starts[timeField];
    const timeEnd = ends[timeField];
    if (timeStart === timeEnd && emptyIsNull) return reject(record, `missing time: ${names[timeField]} is empty`);
    // Loaded once a record: closure variables cost a context load (and a hole check) at each use.
    const tokens = isNullToken;
    const plain = plainNumbers;
    if (tokens !== undefined && isNull(record, timeField)) return reject(record, `missing time: ${names[timeField]} is ${showValue(text(record, timeField))}, a null value`);
    const timeMs = parseTime(bytes, timeStart, timeEnd);
    // One test for NaN and the range: NaN fails both comparisons.
    if (!(timeMs >= minMs && timeMs < endMs)) {
      const shown = showValue(text(record, timeField));
      return reject(
        record,
        timeMs !== timeMs
          ? `${names[timeField]}: ${shown} is not a valid ${timeFormat} timestamp`
          : timeRangeReason(names[timeField], shown, timeMs, { minMs, endMs }),
      );
    }
    let nulledCount = 0;
    for (let m = 0; m < metricFields.length; m++) {
      const i = metricFields[m];
      const start = starts[i];
      const end = ends[i];
      if (start === end ? emptyIsNull : tokens !== undefined && isNull(record, i)) {
        metrics[m] = NaN;
        continue;
      }
      const value = plain ? parseDecimal(bytes, start, end) : parseNumber(bytes, start, end);
      // NaN (not a number, or beyond a double) fails both comparisons too (values.ts MAX_METRIC_MAGNITUDE).
      if (!(value >= -1e135 && value <= 1e135)) {
        if (nullInvalid) {
          metrics[m] = NaN;
          recordNulled[nulledCount++] = i;
          continue;
        }
        const written = text(record, i);
        return reject(record, metricReason(names[i], showValue(written), value, isDecimalText(written)));
      }
      metrics[m] = value;
    }
    let dimensionBytes = 0;
    for (let d = 0; d < dimensionFields.length; d++) {
      const i = dimensionFields[d];
      if (tokens !== undefined && isNull(record, i)) {
        dims[d] = '';
        continue;
      }
      const escaped = record.quoting[i] === 2; /* FieldQuoting.quotedEscaped */
      const value = escaped ? text(record, i) : decode(bytes, starts[i], ends[i]);
      // `""` stands for one quote: an escaped value's bytes are counted decoded (rare: only those).
      const byteLength = escaped ? Buffer.byteLength(value!) : ends[i] - starts[i];
      if (value === undefined || (escaped && dimensionReason(names[i], value, byteLength) !== undefined)) {
        if (nullInvalid) {
          dims[d] = '';
          recordNulled[nulledCount++] = i;
          continue;
        }
        const decoded = text(record, i);
        return reject(record, dimensionReason(names[i], decoded, Buffer.byteLength(decoded)) ?? `${names[i]}: cannot be stored`);
      }
      dimensionBytes += byteLength;
      if (dimensionBytes > MAX_RECORD_DIMENSION_BYTES) return reject(record, recordDimensionsReason(names[i], dimensionBytes));
      dims[d] = value;
    }
    accepted++;
    for (let k = 0; k < nulledCount; k++) nulled[recordNulled[k]]++;
    sink.accept(timeMs, dims, metrics);
  });

  return {
    push(chunk) {
      scanner.push(chunk);
    },
    end() {
      scanner.end();
      const stats = { records: accepted + rejected, rejected, lines: scanner.lines, bytes: scanner.bytes };
      if (!nulled.some((n) => n > 0)) return stats;
      const valuesNulled: Record<string, number> = {};
      nulled.forEach((n, i) => {
        if (n > 0) valuesNulled[columns[i]] = n;
      });
      return { ...stats, valuesNulled };
    },
  };
}
