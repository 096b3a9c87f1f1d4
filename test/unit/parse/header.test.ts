import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderError, missingColumns, parseCsvHeader } from '../../../lib/parse/header.ts';
import type { RecordLayout } from '../../../lib/parse/sink.ts';
import { quote, referenceParse } from './csvText.ts';

const bytesOf = (text: string) => Buffer.from(text, 'utf8');

describe('parseCsvHeader', () => {
  it('reads the column names and where the data starts', () => {
    // Prepare
    const text = 'ts,region,amount\n2024-01-01,north,1\n';

    // Act
    const header = parseCsvHeader(bytesOf(text), false);

    // Assess
    expect(header).toEqual({ columns: ['ts', 'region', 'amount'], dataStart: text.indexOf('\n') + 1, headerLines: 1, lineEnd: 10 });
  });

  it('strips a UTF-8 BOM, counting it in dataStart, and a CRLF line end', () => {
    // Prepare
    const text = '\uFEFFts,region\r\nx,y\r\n';

    // Act
    const header = parseCsvHeader(bytesOf(text), false);

    // Assess
    expect(header).toEqual({ columns: ['ts', 'region'], dataStart: bytesOf('\uFEFFts,region\r\n').length, headerLines: 1, lineEnd: 10 });
  });

  it('reads generated quoted names as csv-parse does, with their line breaks and the lines they take', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), (names) => {
        // Prepare
        const headerText = `${names.map(quote).join(',')}\r\n`;
        const bytes = bytesOf(`${headerText}a,b\n`);

        // Act
        const header = parseCsvHeader(bytes, false);

        // Assess
        expect(header).toEqual({
          columns: referenceParse(headerText)[0],
          dataStart: bytesOf(headerText).length,
          headerLines: headerText.split('\n').length - 1,
          lineEnd: 10,
        });
      }),
    );
  });

  it('asks for more bytes until the header ends, unless the object ends first', () => {
    // Prepare
    const partial = bytesOf('ts,"reg\nion"');

    // Act
    const needMore = parseCsvHeader(partial, false);
    const atEnd = parseCsvHeader(partial, true);

    // Assess
    expect(needMore).toBeNull();
    expect(atEnd).toEqual({ columns: ['ts', 'reg\nion'], dataStart: partial.length, headerLines: 1, lineEnd: 10 });
  });

  it.each([
    ['an empty object', ''],
    ['a blank first line', '\nts,x\n'],
    ['a blank first CRLF line', '\r\nts,x\n'],
    ['a BOM alone', '\uFEFF'],
  ])('rejects %s as an empty header', (_, text) => {
    // Act
    const parse = () => parseCsvHeader(bytesOf(text), true);

    // Assess
    expect(parse).toThrow(HeaderError);
    expect(parse).toThrow(/empty header/);
  });

  it('rejects a duplicate column name, naming it and both positions', () => {
    // Act
    const parse = () => parseCsvHeader(bytesOf('ts,region,amount,region\n'), false);

    // Assess
    expect(parse).toThrow(new HeaderError('duplicate column name "region": columns 2 and 4'));
  });

  it.each([
    ['a stray quote', 'ts,re"gion\n', /column 2 has a quote/],
    ['text after a closing quote', '"ts"x,region\n', /column 1 has text after its closing quote/],
    ['an unterminated quote', 'ts,"region\n', /column 2 has an unterminated quoted name/],
  ])('rejects a header with %s', (_, text, message) => {
    // Act
    const parse = () => parseCsvHeader(bytesOf(text), true);

    // Assess
    expect(parse).toThrow(HeaderError);
    expect(parse).toThrow(message);
  });
});

describe('missingColumns', () => {
  const layout: RecordLayout = {
    format: 'csv',
    columns: ['ts', 'region', 'amount'],
    timeColumn: 'ts',
    timeFormat: 'iso',
    dimensions: ['region', 'product'],
    metrics: ['amount', 'quantity'],
  };

  it('lists the columns a CSV layout reads that the header lacks, once each', () => {
    // Act
    const missing = missingColumns({ ...layout, dimensions: ['region', 'product'], metrics: ['amount', 'quantity'] });

    // Assess
    expect(missing).toEqual(['product', 'quantity']);
  });

  it('lists none when the header has them all', () => {
    // Act
    const missing = missingColumns({ ...layout, dimensions: ['region'], metrics: ['amount'] });

    // Assess
    expect(missing).toEqual([]);
  });

  it('lists none for NDJSON, which has no header', () => {
    // Act
    const missing = missingColumns({ ...layout, format: 'ndjson', columns: [] });

    // Assess
    expect(missing).toEqual([]);
  });
});
