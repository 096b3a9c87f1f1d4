import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { functionBundle } from '../../../../localstack/runtime/functionBundle.ts';

/** A handler entry in a fresh directory, importing a sibling module whose answer the test picks. */
function entry(answer: string): { entry: URL; sibling: string } {
  const dir = mkdtempSync(join(tmpdir(), 'batchflow-bundle-test-'));
  const sibling = join(dir, 'answer.ts');
  writeFileSync(sibling, `export const answer: string = ${JSON.stringify(answer)};\n`);
  writeFileSync(join(dir, 'handler.ts'), `import { answer } from './answer.ts';\nexport const handler = async (): Promise<string> => answer;\n`);
  return { entry: pathToFileURL(join(dir, 'handler.ts')), sibling };
}

async function run(bundle: URL): Promise<unknown> {
  const module = (await import(bundle.href)) as { handler: () => Promise<unknown> };
  return module.handler();
}

describe('functionBundle', () => {
  it('bundles a TypeScript entry into one module that runs without tsx, and reuses it while its inputs are unchanged', async () => {
    // Prepare
    const { entry: handler } = entry('one');

    // Act
    const [first, concurrent] = await Promise.all([functionBundle(handler), functionBundle(handler)]);
    const again = await functionBundle(handler);

    // Assess
    expect(first.pathname).toMatch(/\/\.batchflow\/bundles\/handler-[0-9a-f]{16}\.[0-9a-f]{8}\.mjs$/);
    expect(concurrent.href).toBe(first.href);
    expect(again.href).toBe(first.href);
    expect(await run(first)).toBe('one');
  });

  it('rebuilds at the next call after a file that went into the bundle changes', async () => {
    // Prepare
    const { entry: handler, sibling } = entry('before');
    const before = await functionBundle(handler);

    // Act: same size, another modification time; then another size.
    writeFileSync(sibling, `export const answer: string = "after1";\n`);
    utimesSync(sibling, new Date(), new Date(Date.now() + 5_000));
    const after = await functionBundle(handler);

    // Assess
    expect(after.href).not.toBe(before.href);
    expect(await run(before)).toBe('before');
    expect(await run(after)).toBe('after1');
  });

  it('fails with esbuild\'s error naming the file and line, and builds once the entry is fixed', async () => {
    // Prepare
    const { entry: handler, sibling } = entry('fine');
    writeFileSync(sibling, 'export const answer: string = ;\n');

    // Act
    const failed = await functionBundle(handler).then(
      () => undefined,
      (err: Error) => err.message,
    );
    writeFileSync(sibling, 'export const answer: string = "fixed";\n');
    const fixed = await functionBundle(handler);

    // Assess
    expect(failed).toMatch(/answer\.ts:1:\d+: ERROR: Unexpected ";"/);
    expect(await run(fixed)).toBe('fixed');
  });

  it('imports JavaScript entries as they are', async () => {
    const js = new URL('file:///somewhere/handler.mjs');
    expect((await functionBundle(js)).href).toBe(js.href);
  });
});
