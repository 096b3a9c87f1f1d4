import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTranscoder, detectEncoding, sourceLength, type TextEncoding } from '../../../lib/parse/transcode.ts';
import { chunked } from './csvText.ts';

/** Pushes `bytes` through a transcoder in chunks of the given sizes; returns its whole output. */
function transcodeAll(encoding: Exclude<TextEncoding, 'utf-8'>, bytes: Uint8Array, sizes: readonly number[]) {
  const t = createTranscoder(encoding);
  const out = Buffer.concat([...chunked(bytes, sizes).map((c) => t.push(c)), t.end()]);
  return { out, t };
}

/** UTF-16 bytes of a text, as Node writes UTF-16LE, swapped for BE. */
const utf16 = (text: string, bigEndian: boolean) => (bigEndian ? Buffer.from(text, 'utf16le').swap16() : Buffer.from(text, 'utf16le'));

/**
 * windows-1252's 0x80–0x9F as code points, from Unicode's mapping file (CP1252.TXT) with WHATWG's
 * choice for its five undefined bytes (the C1 control of the same value); the rest is latin1.
 * Node 20's TextDecoder cannot be the reference: it decodes windows-1252 as latin1.
 */
const WINDOWS_1252 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

describe('createTranscoder', () => {
  it('turns UTF-16 LE and BE, cut into chunks anywhere, into the UTF-8 of what TextDecoder reads from the whole', () => {
    fc.assert(
      fc.property(
        // Arbitrary bytes: lone surrogates, pairs cut by a chunk, an odd last byte all occur.
        fc.uint8Array({ maxLength: 80 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (bytes, sizes, bigEndian) => {
          // Act
          const { out } = transcodeAll(bigEndian ? 'utf-16be' : 'utf-16le', bytes, sizes);

          // Assess
          const expected = Buffer.from(new TextDecoder(bigEndian ? 'utf-16be' : 'utf-16le').decode(bytes), 'utf8');
          expect(out.equals(expected)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads latin1 as one code point per byte and windows-1252 as its mapping table says, chunked anywhere', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 6 }), (bytes, sizes) => {
        // Act
        const latin1 = transcodeAll('latin1', bytes, sizes).out.toString('utf8');
        const cp1252 = transcodeAll('windows-1252', bytes, sizes).out.toString('utf8');

        // Assess
        expect(latin1).toBe(String.fromCharCode(...bytes));
        expect(cp1252).toBe(String.fromCodePoint(...[...bytes].map((b) => WINDOWS_1252[b - 0x80] ?? b)));
      }),
      { numRuns: 300 },
    );
    // The difference between the two, byte by byte: 0x80 is € in windows-1252, a C1 control in latin1.
    const bytes = Buffer.from([0x80, 0x9f, 0x81, 0xe9]);
    expect(transcodeAll('windows-1252', bytes, [1]).out.toString('utf8')).toBe('€Ÿ\u0081é');
    expect(transcodeAll('latin1', bytes, [1]).out.toString('utf8')).toBe('\u0080\u009f\u0081é');
  });

  it('maps every line start of its output back to the line start in the source bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom('a', ',', '"', 'é', '€', '😀', '\r', '\uD800') }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom<Exclude<TextEncoding, 'utf-8'>>('utf-16le', 'utf-16be', 'windows-1252'),
        (lines, sizes, encoding) => {
          // Prepare: windows-1252 has no 😀 or lone surrogate; those lines are written with a '?' instead.
          const text = lines.map((l) => (encoding === 'windows-1252' ? l.replace(/[😀\uD800]/gu, '?') : l)).join('\n');
          const source = encoding === 'windows-1252' ? Buffer.from(text.replaceAll('€', '\u0080'), 'latin1') : utf16(text, encoding === 'utf-16be');

          // Act
          const { out, t } = transcodeAll(encoding, source, sizes);

          // Assess: the i-th line starts after i LFs in both, found by plain search.
          const outStarts = [0, ...[...out.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1)];
          const unit = encoding === 'windows-1252' ? 1 : 2;
          const srcStarts = [0];
          let units = 0;
          for (const c of text) {
            units += c.length;
            if (c === '\n') srcStarts.push(unit * units);
          }
          expect(outStarts.map((o) => t.sourceOffset(o))).toEqual(srcStarts);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('detectEncoding', () => {
  it('takes UTF-16 and UTF-8 from a byte order mark over the declared encoding, and the declaration otherwise', () => {
    // Act
    const found = [
      detectEncoding(Buffer.from([0xff, 0xfe, 0x74, 0]), 'utf-8'),
      detectEncoding(Buffer.from([0xfe, 0xff, 0, 0x74]), 'latin1'),
      detectEncoding(Buffer.from([0xef, 0xbb, 0xbf, 0x74]), 'windows-1252'),
      detectEncoding(Buffer.from('ts,a\n'), 'latin1'),
      // UTF-32LE is not taken for UTF-16LE: the splitter's encoding check names it.
      detectEncoding(Buffer.from([0xff, 0xfe, 0, 0]), 'utf-8'),
    ];

    // Assess
    expect(found).toEqual([
      { encoding: 'utf-16le', bomLength: 2 },
      { encoding: 'utf-16be', bomLength: 2 },
      { encoding: 'utf-8', bomLength: 0 },
      { encoding: 'latin1', bomLength: 0 },
      { encoding: 'utf-8', bomLength: 0 },
    ]);
  });
});

describe('sourceLength', () => {
  it('counts the source bytes of UTF-8 text by the encoding’s own units', () => {
    // Prepare
    const text = 'ts,é,€,😀\n';

    // Act
    const lengths = (['utf-8', 'utf-16le', 'utf-16be'] as const).map((e) => sourceLength(Buffer.from(text), e));
    const single = sourceLength(Buffer.from('ts,é\n'), 'latin1');

    // Assess
    expect(lengths).toEqual([Buffer.byteLength(text), Buffer.byteLength(text, 'utf16le'), Buffer.byteLength(text, 'utf16le')]);
    expect(single).toBe(Buffer.from('ts,é\n', 'latin1').length);
  });
});
