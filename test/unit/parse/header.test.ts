import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderError, missingColumns, parseCsvHeader, type HeaderOptions } from '../../../lib/parse/header.ts';
import type { RecordLayout } from '../../../lib/parse/sink.ts';
import { quote, quoteIn, referenceParse, textDialect } from './csvText.ts';

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

describe('parseCsvHeader: dialect, line ends, skipRows, header and columns', () => {
  const options = (extra: Partial<HeaderOptions> = {}): HeaderOptions => ({ delimiter: 44, quote: 34, header: true, skipRows: 0, ...extra });

  it('detects CR alone as the line end, as csv-parse reads the file with CR records', () => {
    // Prepare
    const text = 'ts,"re\rgion",amount\r2024-01-01,north,1\r';

    // Act
    const header = parseCsvHeader(bytesOf(text), false);

    // Assess
    expect(header).toEqual({ columns: referenceParse(text, { delimiter: ',', quote: '"', lineEnd: 'cr' })[0], dataStart: text.indexOf('\r2024') + 1, headerLines: 2, lineEnd: 13 });
  });

  it('waits for the byte after a CR before deciding between CR and CRLF', () => {
    // Act
    const needMore = parseCsvHeader(bytesOf('ts,x\r'), false);
    const crlf = parseCsvHeader(bytesOf('ts,x\r\n'), false);
    const cr = parseCsvHeader(bytesOf('ts,x\r'), true);

    // Assess
    expect(needMore).toBeNull();
    expect(crlf?.lineEnd).toBe(10);
    expect(cr?.lineEnd).toBe(13);
  });

  it('reads generated names in any delimiter and quote as csv-parse does', () => {
    fc.assert(
      fc.property(textDialect, fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), (dialect, names) => {
        // Prepare
        const lineEnd = dialect.lineEnd === 'cr' ? '\r' : '\r\n';
        const headerText = `${names.map((n) => quoteIn(n, dialect.quote)).join(dialect.delimiter)}${lineEnd}`;
        const bytes = bytesOf(`${headerText}a${dialect.delimiter}b${lineEnd}`);

        // Act
        const header = parseCsvHeader(bytes, false, options({ delimiter: dialect.delimiter.charCodeAt(0), quote: dialect.quote.charCodeAt(0) }));

        // Assess
        expect(header?.columns).toEqual(referenceParse(headerText, dialect)[0]);
        expect(header?.dataStart).toBe(bytesOf(headerText).length);
        expect(header?.lineEnd).toBe(dialect.lineEnd === 'cr' ? 13 : 10);
      }),
    );
  });

  it('skips skipRows lines before the header, quotes in them included, counting them in headerLines', () => {
    // Prepare
    const text = '\uFEFFReport "Q1\r\ngenerated 2024-01-01\r\nts;region\r\nx;y\r\n';

    // Act
    const header = parseCsvHeader(bytesOf(text), false, options({ delimiter: 59, skipRows: 2 }));

    // Assess
    expect(header).toEqual({ columns: ['ts', 'region'], dataStart: bytesOf(text).indexOf('x;y'), headerLines: 3, lineEnd: 10 });
  });

  it('says how many lines an object has when it has fewer than skipRows', () => {
    // Act
    const parse = () => parseCsvHeader(bytesOf('title\n'), true, options({ skipRows: 3 }));

    // Assess
    expect(parse).toThrow(new HeaderError('the object has 1 line, fewer than skipRows (3) before the header'));
  });

  it('without a header, takes the columns given and starts the data after the skipped lines', () => {
    // Prepare
    const text = 'preamble\r2024-01-01,north,1\r';

    // Act
    const header = parseCsvHeader(bytesOf(text), false, options({ header: false, columns: ['ts', 'region', 'amount'], skipRows: 1 }));
    const noSkip = parseCsvHeader(bytesOf('2024-01-01,north,1\n'), false, options({ header: false, columns: ['ts', 'region', 'amount'] }));

    // Assess
    expect(header).toEqual({ columns: ['ts', 'region', 'amount'], dataStart: text.indexOf('2024'), headerLines: 1, lineEnd: 13 });
    expect(noSkip).toEqual({ columns: ['ts', 'region', 'amount'], dataStart: 0, headerLines: 0, lineEnd: 10 });
  });

  it('renames the header\'s fields one for one with columns, so an empty or repeated name can be named', () => {
    // Prepare: pandas' to_csv() of an unnamed index writes an empty first name.
    const text = ',ts,amount,amount\n0,2024-01-01,1,2\n';

    // Act
    const header = parseCsvHeader(bytesOf(text), false, options({ columns: ['row', 'ts', 'amount', 'amount_2'] }));
    const wrongCount = () => parseCsvHeader(bytesOf(text), false, options({ columns: ['row', 'ts', 'amount'] }));

    // Assess
    expect(header).toEqual({ columns: ['row', 'ts', 'amount', 'amount_2'], dataStart: text.indexOf('0,'), headerLines: 1, lineEnd: 10 });
    expect(wrongCount).toThrow(new HeaderError('the header has 4 fields, columns names 3: columns renames the header\'s fields one for one'));
  });

  it('says a header that holds line breaks looks like several lines of data, instead of only naming a duplicate', () => {
    // Prepare: a quote opened in the second name closes two lines later, so the "header" is lines of data.
    const text = 'id,"note\n1,a\n2",id\n3,b\n';

    // Act
    const parse = () => parseCsvHeader(bytesOf(text), false);

    // Assess
    expect(parse).toThrow('duplicate column name "id": columns 1 and 3; the header takes 3 lines and column 2 holds a line break: it looks like several lines of data (is the quote character right, or does the file have a header?)');
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
