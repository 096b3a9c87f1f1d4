/**
 * Why an object's first bytes are not UTF-8 text, or undefined when they may be. batchflow reads
 * UTF-8 (with or without a BOM). UTF-16 is what Excel's "Unicode Text" and PowerShell 5's `>` write;
 * read as UTF-8 its every other byte is NUL, which no header or Postgres text can hold, so the job
 * fails at once with the encoding named instead of rejecting every line.
 */
export function encodingProblem(head: Uint8Array): string | undefined {
  const [a, b, c, d] = head;
  if (a === 0xff && b === 0xfe && c === 0 && d === 0) return 'object is UTF-32LE (byte order mark FF FE 00 00): batchflow reads UTF-8; export the file as UTF-8';
  if (a === 0 && b === 0 && c === 0xfe && d === 0xff) return 'object is UTF-32BE (byte order mark 00 00 FE FF): batchflow reads UTF-8; export the file as UTF-8';
  if (a === 0xff && b === 0xfe) return 'object is UTF-16LE (byte order mark FF FE): batchflow reads UTF-8; export the file as UTF-8';
  if (a === 0xfe && b === 0xff) return 'object is UTF-16BE (byte order mark FE FF): batchflow reads UTF-8; export the file as UTF-8';
  const lineEnd = head.indexOf(0x0a);
  const firstLine = lineEnd < 0 ? head : head.subarray(0, lineEnd);
  const nul = firstLine.indexOf(0);
  if (nul >= 0) {
    return `object has a NUL byte in its first line (byte ${nul}): not UTF-8 text (UTF-16 without a byte order mark, or a binary file)`;
  }
  return undefined;
}
