/**
 * Why an object's first bytes (as UTF-8: a UTF-16 or legacy object's transcoding, see
 * lib/parse/transcode.ts) are not text the readers can take, or undefined when they may be. UTF-16
 * with a byte order mark is transcoded; UTF-32, or UTF-16 without a BOM, read as UTF-8 has NUL
 * bytes, which no header or Postgres text can hold, so the job fails at once naming the encoding
 * instead of rejecting every line.
 */
export function encodingProblem(head: Uint8Array): string | undefined {
  const [a, b, c, d] = head;
  if (a === 0xff && b === 0xfe && c === 0 && d === 0) return 'object is UTF-32LE (byte order mark FF FE 00 00): batchflow reads UTF-8 and UTF-16; export the file as one of them';
  if (a === 0 && b === 0 && c === 0xfe && d === 0xff) return 'object is UTF-32BE (byte order mark 00 00 FE FF): batchflow reads UTF-8 and UTF-16; export the file as one of them';
  const lineEnd = head.indexOf(0x0a);
  const firstLine = lineEnd < 0 ? head : head.subarray(0, lineEnd);
  const nul = firstLine.indexOf(0);
  if (nul >= 0) {
    return `object has a NUL byte in its first line (byte ${nul}): not UTF-8 text (UTF-16 without a byte order mark, or a binary file)`;
  }
  return undefined;
}
