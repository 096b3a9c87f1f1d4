import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodingProblem } from '../../../lib/split/encoding.ts';

const csv = 'ts,region,amount\r\n2024-03-04T10:00:00Z,north,1.50\r\n';

describe('encodingProblem', () => {
  it('names UTF-32 by its byte order marks, as Node encodes them', () => {
    // Prepare
    const utf32le = Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from(csv, 'utf16le')]);

    // Act
    const problems = [utf32le, Buffer.from([0, 0, 0xfe, 0xff, 0, 0, 0, 0x74])].map(encodingProblem);

    // Assess
    expect(problems).toEqual([expect.stringContaining('UTF-32LE'), expect.stringContaining('UTF-32BE')]);
  });

  it('accepts the UTF-8 transcoding of a UTF-16 object with a byte order mark, as the splitter checks it', () => {
    // Prepare: what lib/parse/transcode.ts makes of UTF-16LE and BE, byte order mark dropped.
    const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(csv, 'utf16le')]);
    const utf16be = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(csv, 'utf16le').swap16()]);
    const transcoded = [
      Buffer.from(new TextDecoder('utf-16le').decode(utf16le.subarray(2)), 'utf8'),
      Buffer.from(new TextDecoder('utf-16be').decode(utf16be.subarray(2)), 'utf8'),
    ];

    // Act
    const problems = transcoded.map(encodingProblem);

    // Assess
    expect(problems).toEqual([undefined, undefined]);
  });

  it('names a NUL in the first line (UTF-16 without a BOM), and only there', () => {
    // Prepare
    const noBom = Buffer.from(csv, 'utf16le');
    const nulInData = Buffer.from(`ts,region\r\n2024,no\u0000rth\r\n`);

    // Act
    const problems = [noBom, nulInData].map(encodingProblem);

    // Assess
    expect(problems[0]).toMatch(/NUL byte in its first line \(byte 1\)/);
    expect(problems[1]).toBeUndefined();
  });

  it('leaves line ends of CR alone to the header parser, which detects them', () => {
    // Act
    const problems = ['ts,region\r2024,north\r', 'ts,region\r\n2024,no\rrth\r\n', 'ts,region\r'].map((t) => encodingProblem(Buffer.from(t)));

    // Assess
    expect(problems).toEqual([undefined, undefined, undefined]);
  });

  it('accepts any UTF-8 text without NUL, with or without a BOM', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.boolean(), (text, bom) => {
        fc.pre(!text.includes('\u0000'));
        const bytes = Buffer.from(`${bom ? '\uFEFF' : ''}${text}`, 'utf8');
        expect(encodingProblem(bytes)).toBeUndefined();
      }),
    );
  });
});
