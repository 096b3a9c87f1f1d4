import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';
import { esbuildOptions } from '../../infra/constructs/functionBundling.ts';
import { localDir, projectRoot } from '../paths.ts';

/**
 * The module a local worker imports for a function's entry: the entry bundled by esbuild with the
 * options `cdk deploy` bundles it with, so the local stack runs the code Lambda gets, and a cold
 * start reads one file instead of compiling a module graph. Measured on a 2-core machine: a worker
 * importing the processor through tsx took 1.4 s alone and 9.6 s for 8 at once (a job's first
 * wave); from the bundle, 0.3 s and 1.4 s.
 *
 * A bundle is kept in `.batchflow/bundles/` with the size and modification time of every file that
 * went into it, and rebuilt at the next cold start after one of them changes (so an edit reaches the
 * next cold start, as it does with tsx). JavaScript entries (`.js`, `.mjs`, `.cjs`) are imported as
 * they are.
 */
export async function functionBundle(entry: URL): Promise<URL> {
  const path = fileURLToPath(entry);
  if (!/\.(c|m)?tsx?$/.test(path)) return entry;
  const building = inFlight.get(path);
  if (building) return building;
  const { dir, name } = bundleName(path);
  const current = readManifest(join(dir, `${name}.json`));
  if (current && current.inputs.every(unchanged) && existsSync(join(dir, current.file))) return pathToFileURL(join(dir, current.file));
  const build = buildBundle(path).finally(() => inFlight.delete(path));
  inFlight.set(path, build);
  return build;
}

/** Builds in progress, by entry path: the cold starts of a job's first wave share one. */
const inFlight = new Map<string, Promise<URL>>();

/** Node 20 runs the local stack; Lambda's bundle targets Node 22 (nothing in the code differs between them). */
const target = `node${process.versions.node.split('.')[0]}`;
const options = esbuildOptions(target);

interface Manifest {
  /** The bundle's file name, in the bundles directory. */
  readonly file: string;
  /** Each input as [path relative to the project root, size, mtimeMs]. */
  readonly inputs: readonly (readonly [string, number, number])[];
}

/** Where an entry's bundle lives: one name per entry path, esbuild version and options. */
function bundleName(entryPath: string): { dir: string; name: string } {
  const key = createHash('sha256').update(JSON.stringify([entryPath, esbuildVersion, options])).digest('hex').slice(0, 16);
  return { dir: join(localDir, 'bundles'), name: `${basename(entryPath, extname(entryPath))}-${key}` };
}

async function buildBundle(entryPath: string): Promise<URL> {
  const { dir, name } = bundleName(entryPath);
  const manifestPath = join(dir, `${name}.json`);
  mkdirSync(dir, { recursive: true });
  // A unique name per build: another process may be importing the previous bundle right now.
  const file = `${name}.${randomBytes(4).toString('hex')}.mjs`;
  const result = await build({
    ...options,
    entryPoints: [entryPath],
    absWorkingDir: projectRoot,
    outfile: join(dir, file),
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(':'))
    .map((input): [string, number, number] => {
      const stat = statSync(join(projectRoot, input));
      return [input, stat.size, stat.mtimeMs];
    });
  const temporary = `${manifestPath}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify({ file, inputs } satisfies Manifest));
  renameSync(temporary, manifestPath);
  pruneOlderBuilds(dir, name, file);
  return pathToFileURL(join(dir, file));
}

/**
 * Removes this entry's earlier bundles once they are ten minutes old: a worker that started from
 * one a moment ago may still be reading it.
 */
function pruneOlderBuilds(dir: string, name: string, keep: string): void {
  const stale = Date.now() - 10 * 60_000;
  for (const file of readdirSync(dir)) {
    if (!file.startsWith(`${name}.`) || file.startsWith(keep) || !/\.mjs(\.map)?$/.test(file)) continue;
    try {
      if (statSync(join(dir, file)).mtimeMs < stale) rmSync(join(dir, file));
    } catch {
      // Another process pruned it first.
    }
  }
}

function readManifest(path: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

function unchanged([input, size, mtimeMs]: readonly [string, number, number]): boolean {
  try {
    const stat = statSync(isAbsolute(input) ? input : join(projectRoot, input));
    return stat.size === size && stat.mtimeMs === mtimeMs;
  } catch {
    return false;
  }
}
