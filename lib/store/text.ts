/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as Postgres can store it. A `text` value cannot hold NUL (22021 "invalid byte sequence")
 * and the driver cannot encode a lone UTF-16 surrogate, so a reason that quotes a user's bytes
 * could make the statement recording a failure fail itself. NUL becomes the visible `\0`, lone
 * surrogates U+FFFD; anything past `maxChars` is cut with an ellipsis.
 */
export function storableText(text: string, maxChars = 4000): string {
  // Cut first: a cut through a surrogate pair leaves a lone surrogate, which the next step replaces.
  const cut = text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
  return cut.replace(/\u0000/g, '\\0').replace(LONE_SURROGATE, '\uFFFD');
}
