import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rule of README.md's layout section, checked on the source: the core owns its
 * ports, adapters and the store depend on the core, entry points wire them, and the library never
 * depends on the local runtime. Imports are read by TypeScript's own pre-processor, not by regex.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const folders = ['lib', 'functions', 'infra', 'localstack'];

/** The pure core: feature folders under lib/ that must not reach an adapter. */
const core = ['analytics', 'compact', 'datasets', 'definitions', 'operations', 'parse', 'process', 'query', 'rollup', 'recovery', 'split', 'tune', 'watchdog'].map((f) => `lib/${f}/`);

function sourceFiles(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

const files = folders.flatMap(sourceFiles);

/** Each file's relative imports, as repository paths. */
const imports = new Map(
  files.map((file) => {
    const text = readFileSync(join(root, file), 'utf8');
    const specifiers = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'));
    return [file, specifiers.map((s) => relative(root, resolve(root, dirname(file), s)))] as const;
  }),
);

describe('layout: the dependency rule', () => {
  it('finds the sources (a scanner that reads nothing would pass everything)', () => {
    expect(files).toContain('lib/config.ts');
    expect(files).toContain('functions/processor.ts');
    expect(imports.get('functions/processor.ts')).toContain('lib/config.ts');
  });

  it('nothing under lib/ imports localstack/', () => {
    const offenders = [...imports].filter(([file, deps]) => file.startsWith('lib/') && deps.some((d) => d.startsWith('localstack/')));
    expect(offenders.map(([file]) => file)).toEqual([]);
  });

  it('process.env is read under lib/ only in lib/config.ts', () => {
    const readers = files.filter((file) => file.startsWith('lib/') && /\bprocess\.env\b/.test(readFileSync(join(root, file), 'utf8')));
    expect(readers).toEqual(['lib/config.ts']);
  });

  it('the core imports no adapter: adapters implement the ports the core defines', () => {
    const offenders = [...imports].filter(([file, deps]) => core.some((c) => file.startsWith(c)) && deps.some((d) => d.startsWith('lib/adapters/')));
    expect(offenders.map(([file, deps]) => `${file} -> ${deps.filter((d) => d.startsWith('lib/adapters/')).join(', ')}`)).toEqual([]);
  });

  it('has no import cycle', () => {
    // Depth-first search; a back edge to a file still on the stack is a cycle.
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const dep of imports.get(file) ?? []) {
        if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep].join(' -> '));
        else if (!state.has(dep) && imports.has(dep)) visit(dep);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
