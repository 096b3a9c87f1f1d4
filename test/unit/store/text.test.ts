import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { storableText } from '../../../lib/store/text.ts';

/** Any sequence of UTF-16 code units: NULs and lone surrogates included. */
const anyCodeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 64 }).map((units) => String.fromCharCode(...units));

describe('storableText', () => {
  it('leaves no NUL and no lone surrogate, whatever the input (encodeURIComponent refuses lone surrogates)', () => {
    fc.assert(
      fc.property(anyCodeUnits, fc.integer({ min: 2, max: 80 }), (text, maxChars) => {
        const stored = storableText(text, maxChars);
        expect(stored).not.toContain('\u0000');
        expect(() => encodeURIComponent(stored)).not.toThrow();
        expect(stored.length).toBeLessThanOrEqual(2 * maxChars);
      }),
    );
  });

  it('keeps well-formed text as it is, shows NUL as \\0 and cuts long text with an ellipsis', () => {
    expect(storableText('Zürich 売上 😀')).toBe('Zürich 売上 😀');
    expect(storableText('reg\u0000ion')).toBe('reg\\0ion');
    expect(storableText('a\ud800b')).toBe('a\uFFFDb');
    expect(storableText('abcdef', 4)).toBe('abc…');
    // A cut through a surrogate pair leaves no half of it.
    expect(storableText('ab😀cd', 4)).toBe('ab\uFFFD…');
  });
});
