import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import sales from '../../definitions/datasets/sales.json' with { type: 'json' };

/**
 * The sample dataset of the demo, the benchmarks and the tests: sales by region and product, as
 * deployed (definitions/datasets/sales.json is its one definition).
 */
export const salesDataset = sales;

export const REGIONS = ['north', 'south', 'east', 'west', 'central'] as const;

/** mulberry32: a small, fast, well-distributed deterministic PRNG (so runs are comparable). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes `records` sales rows as CSV (`ts,region,product,amount,quantity`, ~45 bytes a row) spread
 * over `days` days from 2024-01-01: log-normal amounts, integer quantities, 1% empty amounts.
 * `order: 'time'` (the default) writes them as exports and event logs usually are, in time order
 * with a few seconds of jitter; `'random'` scatters timestamps over the whole span.
 */
export async function writeSalesCsv(
  path: string,
  options: { records: number; products?: number; days?: number; seed?: number; order?: 'time' | 'random' },
): Promise<number> {
  const random = prng(options.seed ?? 42);
  const products = options.products ?? 20;
  const spanMs = (options.days ?? 7) * 86_400_000;
  const t0 = Date.UTC(2024, 0, 1);
  return writeCsv(path, 'ts,region,product,amount,quantity', options.records, (i) => {
    const offset = options.order === 'random' ? random() * spanMs : Math.min(spanMs - 1, (i * spanMs) / options.records + random() * 5000);
    const ts = new Date(t0 + Math.floor(offset)).toISOString();
    const region = REGIONS[Math.floor(random() * REGIONS.length)];
    const product = `p${Math.floor(random() * products)}`;
    // exp of a sum of uniforms ≈ log-normal, median ~ e^4 ≈ 55.
    const amount = random() < 0.01 ? '' : Math.exp(2 + 4 * ((random() + random() + random()) / 3)).toFixed(2);
    const quantity = 1 + Math.floor(random() * 20);
    return `${ts},${region},${product},${amount},${quantity}`;
  });
}

/**
 * Writes a header and `records` lines, line `i` from `line(i)` (called in order), to `path` in 1 MiB
 * chunks, waiting for the stream to drain; resolves with the bytes written. Generated bench files
 * are hundreds of MB: built as one string they would not fit the heap.
 */
export async function writeCsv(path: string, header: string, records: number, line: (i: number) => string): Promise<number> {
  const out = createWriteStream(path);
  let chunk = `${header}\n`;
  let bytes = 0;
  for (let i = 0; i < records; i++) {
    chunk += `${line(i)}\n`;
    if (chunk.length > 1 << 20) {
      bytes += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  bytes += chunk.length;
  out.end(chunk);
  await once(out, 'finish');
  return bytes;
}
