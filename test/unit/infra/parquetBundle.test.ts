import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esbuildOptions } from '../../../infra/constructs/functionBundling.ts';
import { topology } from '../../../lib/topology.ts';
import { openDuck, type Duck } from '../parse/parquetDuckdb.ts';

/**
 * The Parquet reader inside the Lambda bundles: esbuild with the options BatchflowFunction gives
 * NodejsFunction (ESM for Node 22, module fields first, the require banner, minified). The reader
 * is pure JavaScript (hyparquet, fzstd; gzip and brotli from node:zlib): no WASM or other asset
 * has to be copied next to the bundle.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const options: BuildOptions = {
  ...esbuildOptions('node22'),
  sourcemap: false,
  write: true,
  metafile: true,
  logLevel: 'silent',
};

let duck: Duck;
beforeAll(async () => {
  duck = await openDuck();
});
afterAll(() => duck?.close());

describe('the Parquet reader in the Lambda bundles', () => {
  it('is bundled into the splitter and the processor, with no file left outside the bundle', async () => {
    for (const name of ['splitter', 'processor'] as const) {
      // Prepare
      const outdir = mkdtempSync(join(tmpdir(), `batchflow-bundle-${name}-`));

      // Act
      const result = await build({ ...options, entryPoints: [join(root, topology.functions[name].entry)], outfile: join(outdir, 'index.mjs') });

      // Assess
      const inputs = Object.keys(result.metafile!.inputs);
      expect(result.errors).toEqual([]);
      expect(inputs.some((i) => i.includes('node_modules/hyparquet/'))).toBe(true);
      if (name === 'processor') expect(inputs.some((i) => i.includes('node_modules/fzstd/'))).toBe(true);
      expect(Object.keys(result.metafile!.outputs)).toEqual([expect.stringMatching(/index\.mjs$/)]);
    }
  });

  it('decodes a zstd, a gzip and a snappy file as DuckDB reads them, run from the bundle alone', async () => {
    // Prepare: an entry using the reader as the processor does, bundled and run outside the repository.
    const outdir = mkdtempSync(join(tmpdir(), 'batchflow-bundle-reader-'));
    const entry = join(outdir, 'entry.ts');
    writeFileSync(
      entry,
      `import { readFileSync } from 'node:fs';
import { parquetColumns, readParquetFooter } from ${JSON.stringify(join(root, 'lib/parse/parquetFooter.ts'))};
import { readParquetRowGroups } from ${JSON.stringify(join(root, 'lib/parse/parquetReader.ts'))};
const bytes = readFileSync(process.argv[2]);
const read = async (s, e) => bytes.subarray(s, e);
const metadata = await readParquetFooter(read, bytes.length);
const layout = { format: 'parquet', columns: [], timeColumn: 'ts', timeFormat: 'iso', dimensions: ['s'], metrics: ['x'] };
const { columns } = parquetColumns(metadata, layout);
let sum = 0;
const stats = await readParquetRowGroups({ read, objectSize: bytes.length, metadata, columns, rowGroups: { start: 0, end: metadata.row_groups.length } }, layout, { accept: (t, d, m) => { sum += m[0]; }, reject: () => {} });
console.log(JSON.stringify({ records: stats.records, rejected: stats.rejected, sum }));
`,
    );
    await build({ ...options, entryPoints: [entry], outfile: join(outdir, 'reader.mjs') });
    const [expected] = await duck.rows(`select count(*)::int as records, sum(x)::double as sum from range(6000) r(i), lateral (select i * 0.5 as x)`);

    for (const codec of ['zstd', 'gzip', 'snappy']) {
      const file = join(duck.dir, `${codec}.parquet`);
      await duck.run(`copy (select timestamp '2024-01-01' + i * interval 1 second as ts, 's' || (i % 7) as s, i * 0.5 as x from range(6000) r(i)) to '${file}' (format parquet, compression ${codec}, row_group_size 2048)`);

      // Act
      const run = spawnSync(process.execPath, [join(outdir, 'reader.mjs'), file], { cwd: outdir, encoding: 'utf8' });

      // Assess
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({ records: expected.records, rejected: 0, sum: expected.sum });
    }
  });
});
