import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { listRejects } from '../../../lib/store/rejects.ts';
import { compareQueries, readCsvIndependently } from './expected.ts';
import { registerDataset, salesCsv, uploadAndWait, usePipeline, type Pipeline } from './pipeline.ts';
import { generateCsv } from './records.ts';

/**
 * Files in other encodings than UTF-8, through the whole pipeline with small partitions (8 KiB, so
 * every file is cut into many ranges): UTF-16 LE and BE told by their byte order mark (plain and
 * gzip), latin1 and windows-1252 by the dataset. Each expectation decodes the whole file with a
 * decoder that is not the pipeline's — TextDecoder for UTF-16, Postgres' convert_from for the
 * legacy encodings — and reads the text with csv-parse.
 */

const p = usePipeline('encodings');

/** The UTF-16 bytes of a text (its BOM included, if it holds one): LE as Node writes it, BE swapped. */
const utf16 = (text: string, bigEndian: boolean) => (bigEndian ? Buffer.from(text, 'utf16le').swap16() : Buffer.from(text, 'utf16le'));

/** Postgres' bytes of `text` in a server encoding (WIN1252, LATIN1), and its own decoding of them. */
async function postgresEncode(p: Pipeline, text: string, encoding: 'WIN1252' | 'LATIN1'): Promise<Buffer> {
  const [row] = await p.db.sql<{ bytes: Buffer }[]>`select convert_to(${text}, ${encoding}) as bytes`;
  return row.bytes;
}
async function postgresDecode(p: Pipeline, bytes: Buffer, encoding: 'WIN1252' | 'LATIN1'): Promise<string> {
  const [row] = await p.db.sql<{ text: string }[]>`select convert_from(${bytes}, ${encoding}) as text`;
  return row.text;
}

describe('UTF-16 files with a byte order mark', () => {
  it.each([
    { name: 'utf16le', bigEndian: false, gzip: false },
    { name: 'utf16be', bigEndian: true, gzip: false },
    { name: 'utf16le_gzip', bigEndian: false, gzip: true },
  ])('$name: are read whole across partition boundaries, rejects on their lines at their UTF-16 offsets', async ({ name, bigEndian, gzip }) => {
    // Prepare: the generator's file (quoted line breaks, "Ünïcødé ✓", a BOM, bad rows), in UTF-16.
    const def = await registerDataset(p, salesCsv(name));
    const file = generateCsv({ records: 700, seed: 61, badRows: 12 });
    const text = file.bytes.toString('utf8');
    const bytes = utf16(text, bigEndian);
    const decoded = Buffer.from(new TextDecoder(bigEndian ? 'utf-16be' : 'utf-16le').decode(bytes), 'utf8');
    const independent = readCsvIndependently(decoded, def);
    // A bad row's offset in UTF-16: twice the UTF-16 units of the text before it.
    const utf16Offset = (utf8Offset: number) => 2 * file.bytes.subarray(0, utf8Offset).toString('utf8').length;

    // Act
    const job = await uploadAndWait(p, `uploads/${name}/export.${gzip ? 'csv.gz' : 'csv'}`, gzip ? gzipSync(bytes) : bytes);
    const rejects = await listRejects(p.db, job.jobId);

    // Assess
    expect(job).toMatchObject({
      status: 'completed_with_rejects',
      encoding: bigEndian ? 'utf-16be' : 'utf-16le',
      recordsAggregated: independent.good.length,
      recordsRejected: independent.rejected,
    });
    expect(independent.rejected).toBe(file.bad.length);
    expect(job.partitionsTotal).toBeGreaterThan(5);
    expect(rejects.map((r) => r.line)).toEqual(file.bad.map((b) => b.line));
    expect(rejects.map((r) => r.raw)).toEqual(file.bad.map((b) => b.raw));
    // Staged gzip parts are UTF-8 transcodings: offsets there are the part's, as for any gzip.
    if (!gzip) expect(rejects.map((r) => r.byteOffset)).toEqual(file.bad.map((b) => utf16Offset(b.offset)));
    expect((await compareQueries(p.db, def, independent.good, def.rollups)).problems).toEqual([]);
  });
});

describe('UTF-16 NDJSON with a byte order mark', () => {
  it('is read line by line across partition boundaries, as JSON.parse reads TextDecoder’s text', async () => {
    // Prepare: one object per line, some not JSON, dimensions beyond the BMP (surrogate pairs).
    const def = await registerDataset(p, { ...salesCsv('utf16_ndjson'), format: 'ndjson' });
    const lines = Array.from({ length: 900 }, (_, i) =>
      i % 61 === 7
        ? `{"ts": "2024-05-01T00:00:00Z", "region": "r${i}"`
        : JSON.stringify({ ts: `2024-05-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00Z`, region: ['Zürich', '東京', '😀 emoji'][i % 3], product: `p${i % 5}`, amount: (i % 40) + 0.25, quantity: i % 6 }),
    );
    const bytes = utf16(`\uFEFF${lines.join('\n')}\n`, false);
    const objects = new TextDecoder('utf-16le')
      .decode(bytes)
      .split('\n')
      .filter((l) => l !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, string | number>];
        } catch {
          return [];
        }
      });
    const good = objects.map((o) => ({ timeMs: Date.parse(String(o.ts)), dims: { region: String(o.region), product: String(o.product) }, metrics: { amount: Number(o.amount), quantity: Number(o.quantity) } }));

    // Act
    const job = await uploadAndWait(p, 'uploads/utf16_ndjson/export.ndjson', bytes);

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', encoding: 'utf-16le', recordsAggregated: good.length, recordsRejected: lines.length - good.length });
    expect(job.partitionsTotal).toBeGreaterThan(5);
    expect((await compareQueries(p.db, def, good, def.rollups)).problems).toEqual([]);
  });
});

/** Rows in the sales layout whose dimensions need the encoding: `symbols` end up in product names. */
function legacyCsv(symbols: readonly string[], rows: number): string {
  const lines = ['ts,region,note,product,amount,quantity'];
  for (let i = 0; i < rows; i++) {
    const product = `${symbols[i % symbols.length]} ${i % 7}`;
    const region = i % 3 === 0 ? 'Zürich' : i % 3 === 1 ? 'Köln' : 'Orléans';
    // A quoted note with a line break and a symbol now and then: boundaries must see the quotes.
    const note = i % 5 === 0 ? `"${symbols[i % symbols.length]}\nzwei Zeilen"` : 'ok';
    const bad = i % 97 === 13;
    lines.push(`2024-05-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:15:00Z,${region},${note},${product},${bad ? 'viel' : (i % 40) + 0.5},${i % 9}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

describe('legacy encodings a dataset declares', () => {
  it.each([
    { encoding: 'latin1', server: 'LATIN1', symbols: ['Café', 'Straße', 'naïve', '±5 °C', '½ Preis', 'Ærø'] },
    { encoding: 'windows-1252', server: 'WIN1252', symbols: ['€uro', '“Zitat”', 'Œuvre', '—Strich', 'Š', '™ Marke', 'Café'] },
  ] as const)('$encoding: are read as Postgres decodes them, across partition boundaries', async ({ encoding, server, symbols }) => {
    // Prepare
    const name = encoding.replace('-', '_');
    const def = await registerDataset(p, { ...salesCsv(name), encoding });
    const bytes = await postgresEncode(p, legacyCsv(symbols, 1500), server);
    const independent = readCsvIndependently(Buffer.from(await postgresDecode(p, bytes, server), 'utf8'), def);

    // Act
    const job = await uploadAndWait(p, `uploads/${name}/export.csv`, bytes);

    // Assess
    expect(job).toMatchObject({ status: 'completed_with_rejects', encoding, recordsAggregated: independent.good.length, recordsRejected: independent.rejected });
    expect(independent.rejected).toBeGreaterThan(0);
    expect(job.partitionsTotal).toBeGreaterThan(5);
    expect(new Set(independent.good.map((r) => r.dims.product!.slice(0, r.dims.product!.lastIndexOf(' '))))).toEqual(new Set(symbols));
    expect((await compareQueries(p.db, def, independent.good, def.rollups)).problems).toEqual([]);
  });

  it('is overridden by a UTF-8 byte order mark, and leaves UTF-8 datasets as they were', async () => {
    // Prepare
    const def = await registerDataset(p, { ...salesCsv('bom_wins'), encoding: 'latin1' });
    const text = `\uFEFF${legacyCsv(['Café', '€uro', '😀'], 200)}`;
    const independent = readCsvIndependently(Buffer.from(text, 'utf8'), def);

    // Act
    const job = await uploadAndWait(p, 'uploads/bom_wins/export.csv', Buffer.from(text, 'utf8'));

    // Assess
    expect(job).toMatchObject({ encoding: 'utf-8', recordsAggregated: independent.good.length, recordsRejected: independent.rejected });
    expect((await compareQueries(p.db, def, independent.good, def.rollups)).problems).toEqual([]);
  });
});
