import { describe, expect, it } from 'vitest';
import {
  DatasetDefinitionError,
  parseDatasetDefinition,
  rollupKey,
  type DatasetDefinition,
} from '../../../lib/datasets/definition.ts';
import { BatchflowError } from '../../../lib/errors.ts';

const valid = {
  name: 'orders',
  format: 'csv',
  timeColumn: 'ts',
  granularity: '1-hour',
  dimensions: ['region', 'sku', 'channel'],
  metrics: ['amount', 'quantity'],
};

/** The problems parseDatasetDefinition reports for an input, or [] when it accepts it. */
function problemsOf(input: unknown): readonly string[] {
  try {
    parseDatasetDefinition(input);
    return [];
  } catch (error) {
    if (error instanceof DatasetDefinitionError) return error.problems;
    throw error;
  }
}

describe('parseDatasetDefinition', () => {
  it('fills the defaults: ISO times in UTC, values as today, each dimension alone plus the total as rollups, and RFC 4180 CSV', () => {
    // Prepare
    const input = { ...valid };

    // Act
    const definition = parseDatasetDefinition(input);

    // Assess
    expect(definition).toEqual<DatasetDefinition>({
      ...valid,
      format: 'csv',
      timeFormat: 'iso',
      timeZone: 'UTC',
      nullValues: [''],
      decimalSeparator: '.',
      thousandsSeparator: null,
      onInvalidValue: 'reject',
      rollups: [['region'], ['sku'], ['channel'], []],
      encoding: 'utf-8',
      maxRejectedPercent: null,
      delimiter: ',',
      quote: '"',
      escape: '"',
      header: true,
      skipRows: 0,
    });
  });

  it('keeps a legacy encoding and a reject threshold, 0 and 100 included', () => {
    // Act
    const defs = [
      { encoding: 'latin1', maxRejectedPercent: 0 },
      { encoding: 'windows-1252', maxRejectedPercent: 2.5 },
      { encoding: 'utf-8', maxRejectedPercent: 100 },
      { maxRejectedPercent: null },
    ].map((change) => parseDatasetDefinition({ ...valid, ...change }));

    // Assess
    expect(defs.map((d) => [d.encoding, d.maxRejectedPercent])).toEqual([
      ['latin1', 0],
      ['windows-1252', 2.5],
      ['utf-8', 100],
      ['utf-8', null],
    ]);
  });

  it('keeps what is given, with the granularity canonical and rollups in dimension order', () => {
    // Prepare
    const input = {
      ...valid,
      format: 'ndjson',
      timeFormat: 'epoch_ms',
      granularity: '15-minutes',
      rollups: [['channel', 'region'], [], ['sku', 'channel', 'region']],
    };

    // Act
    const definition = parseDatasetDefinition(input);

    // Assess
    expect(definition.format).toBe('ndjson');
    expect(definition.timeFormat).toBe('epoch_ms');
    expect(definition.granularity).toBe('15-minute');
    expect(definition.rollups).toEqual([['region', 'channel'], [], ['region', 'sku', 'channel']]);
  });

  it('keeps the value options given: R-style nulls, decimal commas, a local time pattern, the null policy', () => {
    // Prepare
    const input = {
      ...valid,
      timeFormat: '%d/%m/%Y %H:%M',
      timeZone: 'Europe/Paris',
      nullValues: ['', 'NA', 'NULL', '\\N'],
      decimalSeparator: ',',
      thousandsSeparator: '.',
      onInvalidValue: 'null',
    };

    // Act
    const definition = parseDatasetDefinition(input);

    // Assess
    expect(definition).toMatchObject({
      timeFormat: '%d/%m/%Y %H:%M',
      timeZone: 'Europe/Paris',
      nullValues: ['', 'NA', 'NULL', '\\N'],
      decimalSeparator: ',',
      thousandsSeparator: '.',
      onInvalidValue: 'null',
    });
  });

  it.each(['epoch_us', 'epoch_ns', '%Y%m%dT%H%M%SZ', '%Y-%m-%d %H:%M:%S.%f%z'])('accepts the time format %j', (timeFormat) => {
    // Act
    const definition = parseDatasetDefinition({ ...valid, timeFormat });

    // Assess
    expect(definition.timeFormat).toBe(timeFormat);
  });

  it('accepts a dataset without dimensions, whose only default rollup is the total', () => {
    // Prepare
    const input = { ...valid, dimensions: [] };

    // Act
    const definition = parseDatasetDefinition(input);

    // Assess
    expect(definition.rollups).toEqual([[]]);
  });

  it('accepts a Parquet dataset, its time format defaulted as for CSV', () => {
    // Act
    const definition = parseDatasetDefinition({ ...valid, format: 'parquet', timeFormat: undefined });

    // Assess
    expect(definition).toMatchObject({ format: 'parquet', timeFormat: 'iso' });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a name with capitals', { name: 'Orders' }, 'name: "Orders" must be 1 to 63 characters'],
    ['a name starting with "-"', { name: '-orders' }, 'name: "-orders" must be'],
    ['a name with a slash', { name: 'a/b' }, 'name: "a/b" must be'],
    ['a name of 64 characters', { name: 'a'.repeat(64) }, `name: "${'a'.repeat(64)}" must be`],
    ['a missing name', { name: undefined }, 'name: is required'],
    ['an unknown format', { format: 'avro' }, 'format: '],
    ['an empty time column', { timeColumn: '' }, 'timeColumn: must not be empty'],
    ['an unknown time format', { timeFormat: 'rfc2822' }, 'timeFormat: '],
    ['an invalid granularity', { granularity: '1-month' }, 'granularity: "1-month" is not a granularity'],
    ['a missing granularity', { granularity: undefined }, 'granularity: is required'],
    ['a repeated dimension', { dimensions: ['region', 'sku', 'region'] }, 'dimensions[2]: "region" repeats dimensions[0]'],
    ['an empty dimension', { dimensions: ['region', ''] }, 'dimensions[1]: must not be empty'],
    ['a dimension with a comma', { dimensions: ['a,b'] }, 'dimensions[0]: "a,b" contains ","'],
    ['the time column as a dimension', { dimensions: ['region', 'ts'] }, 'dimensions[1]: "ts" is the time column'],
    ['no metric', { metrics: [] }, 'metrics: must list at least one metric'],
    ['a repeated metric', { metrics: ['amount', 'amount'] }, 'metrics[1]: "amount" repeats metrics[0]'],
    ['the time column as a metric', { metrics: ['ts'] }, 'metrics[0]: "ts" is the time column'],
    ['a column both dimension and metric', { metrics: ['amount', 'sku'] }, 'metrics[1]: "sku" is also a dimension'],
    ['an empty list of rollups', { rollups: [] }, 'rollups: must list at least one rollup'],
    ['a rollup naming no dimension', { rollups: [[], ['region', 'colour']] }, 'rollups[1][1]: "colour" is not one of the dimensions'],
    ['a metric in a rollup', { rollups: [['amount']] }, 'rollups[0][0]: "amount" is not one of the dimensions'],
    ['a dimension repeated in a rollup', { rollups: [['sku', 'region', 'sku']] }, 'rollups[0][2]: "sku" repeats rollups[0][0]'],
    ['two rollups with the same dimensions', { rollups: [['region', 'sku'], [], ['sku', 'region']] }, 'rollups[2]: has the same dimensions as rollups[0]'],
    ['two totals', { rollups: [[], []] }, 'rollups[1]: has the same dimensions as rollups[0]'],
    ['an unknown field', { rollup: [['region']] }, 'rollup: is not a field'],
    ['dimensions that are not strings', { dimensions: [1] }, 'dimensions[0]: '],
    ['a time pattern with an unknown directive', { timeFormat: '%d/%m/%Y %Q' }, 'timeFormat: %Q in "%d/%m/%Y %Q" is not a supported directive'],
    ['a time pattern without a whole date', { timeFormat: '%H:%M' }, 'timeFormat: "%H:%M" does not read a whole date'],
    ['an unknown time zone', { timeZone: 'Europe/Atlantis' }, 'timeZone: "Europe/Atlantis" is not an IANA time zone name'],
    ['a null value that is not a string', { nullValues: ['', 0] }, 'nullValues[1]: '],
    ['a decimal separator other than . or ,', { decimalSeparator: ';' }, 'decimalSeparator: '],
    ['a thousands separator that is not one of , . space \'', { thousandsSeparator: '_' }, 'thousandsSeparator: '],
    ['the same decimal and thousands separator', { decimalSeparator: ',', thousandsSeparator: ',' }, 'thousandsSeparator: "," is also the decimalSeparator'],
    ['an unknown bad-value policy', { onInvalidValue: 'skip' }, 'onInvalidValue: '],
    ['an unknown encoding', { encoding: 'utf-16' }, 'encoding: '],
    ['a negative reject threshold', { maxRejectedPercent: -1 }, 'maxRejectedPercent: must be between 0 and 100'],
    ['a reject threshold over 100', { maxRejectedPercent: 100.5 }, 'maxRejectedPercent: must be between 0 and 100'],
    ['a reject threshold as text', { maxRejectedPercent: '5%' }, 'maxRejectedPercent: "5%" is not a number'],
  ])('rejects %s, naming the field', (_rule, change, problem) => {
    // Prepare
    const input = { ...valid, ...change };

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
  });

  it('lists every problem at once, in a DatasetDefinitionError', () => {
    // Prepare
    const input = {
      ...valid,
      name: 'Orders',
      granularity: '1-fortnight',
      metrics: ['amount', 'region'],
      rollups: [['colour'], ['region', 'region']],
    };

    // Act
    const parse = () => parseDatasetDefinition(input);

    // Assess
    expect(parse).toThrow(DatasetDefinitionError);
    expect(parse).toThrow(BatchflowError);
    expect(problemsOf(input)).toEqual([
      expect.stringMatching(/^name: "Orders" must be/),
      expect.stringMatching(/^granularity: "1-fortnight" is not a granularity/),
      'metrics[1]: "region" is also a dimension',
      'rollups[0][0]: "colour" is not one of the dimensions',
      'rollups[1][1]: "region" repeats rollups[1][0]',
    ]);
    expect(parse).toThrow(/^invalid dataset definition: name: .*; rollups\[1\]\[1\]: "region" repeats rollups\[1\]\[0\]$/);
  });

  it('rejects an input that is not an object', () => {
    // Prepare
    const input = 'orders';

    // Act
    const problems = problemsOf(input);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^definition: /);
  });

  it('names its error class', () => {
    // Prepare
    const input = {};

    // Act
    const parse = () => parseDatasetDefinition(input);

    // Assess
    expect(parse).toThrow(expect.objectContaining({ name: 'DatasetDefinitionError' }));
  });
});

describe('rollupKey', () => {
  it.each([
    [['region', 'sku'], 'region,sku'],
    [['region'], 'region'],
    [[], ''],
  ])('identifies %j as %j', (dims, key) => {
    // Prepare
    const input: readonly string[] = dims;

    // Act
    const identity = rollupKey(input);

    // Assess
    expect(identity).toBe(key);
  });

  describe('CSV dialect', () => {
    it('keeps the given delimiter, quote, header, columns and skipRows, and reads them back the same', () => {
      // Prepare
      const input = { ...valid, delimiter: '\t', quote: "'", escape: '\\', header: false, columns: ['ts', 'region', 'sku', 'channel', 'amount', 'quantity', 'note'], skipRows: 2 };

      // Act
      const definition = parseDatasetDefinition(input);

      // Assess
      expect(definition).toMatchObject({ delimiter: '\t', quote: "'", escape: '\\', header: false, columns: input.columns, skipRows: 2 });
      // What is stored (JSON) parses to the same definition.
      expect(parseDatasetDefinition(JSON.parse(JSON.stringify(definition)))).toEqual(definition);
    });

    it('adds nothing to an NDJSON dataset, and rejects CSV options there, naming each (their defaults are dropped)', () => {
      // Act
      const definition = parseDatasetDefinition({ ...valid, format: 'ndjson', delimiter: ',', header: true });
      const problems = problemsOf({ ...valid, format: 'ndjson', delimiter: ';', skipRows: 1 });

      // Assess
      expect(Object.keys(definition)).not.toContain('delimiter');
      expect(problems).toEqual(['delimiter: applies to format "csv" only', 'skipRows: applies to format "csv" only']);
    });

    it.each([
      ['two characters', { delimiter: ';;' }, 'delimiter: ";;" must be one ASCII character'],
      ['a non-ASCII character (two bytes of UTF-8)', { delimiter: '§' }, 'delimiter: "§" must be one ASCII character'],
      ['a line end', { quote: '\n' }, 'quote: "\\n" must be one ASCII character'],
      ['the same byte as the quote', { delimiter: '"' }, 'delimiter: "\\"" is both the delimiter and the quote'],
      ['an escape that is the delimiter', { delimiter: ';', escape: ';' }, 'escape: ";" is both the delimiter and the escape'],
      ['a negative skipRows', { skipRows: -1 }, 'skipRows: must be 0 or more'],
      ['a fractional skipRows', { skipRows: 1.5 }, 'skipRows: must be a whole number'],
      ['no columns without a header', { header: false }, 'columns: is required when header is false'],
      ['a repeated column', { columns: ['ts', 'region', 'sku', 'channel', 'amount', 'quantity', 'sku'] }, 'columns[6]: "sku" repeats columns[2]'],
      ['columns without a metric', { columns: ['ts', 'region', 'sku', 'channel', 'amount'] }, 'columns: lacks "quantity" (a metric)'],
      ['columns without the time column', { columns: ['time', 'region', 'sku', 'channel', 'amount', 'quantity'] }, 'columns: lacks "ts" (the time column)'],
      ['an empty column name', { columns: ['', 'ts', 'region', 'sku', 'channel', 'amount', 'quantity'] }, 'columns[0]: must not be empty'],
    ])('rejects %s, naming the field', (_, extra, message) => {
      // Act
      const problems = problemsOf({ ...valid, ...extra });

      // Assess
      expect(problems.some((p) => p.startsWith(message))).toBe(true);
    });
  });
});
