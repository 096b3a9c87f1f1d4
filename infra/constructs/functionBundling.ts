import type { BuildOptions } from 'esbuild';

/**
 * esbuild's ESM output has no `require`; bundled CommonJS dependencies that call it need one.
 * Aliased so it cannot clash with a `createRequire` import in the bundled code.
 */
export const esmRequireBanner =
  "import { createRequire as batchflowCreateRequire } from 'node:module'; const require = batchflowCreateRequire(import.meta.url);";

/**
 * How a function's code is bundled: ESM, module fields first, the require banner, minified, with
 * a source map. BatchflowFunction hands these to NodejsFunction for `cdk deploy`, and the local
 * runtime (localstack/runtime/functionBundle.ts) runs its functions from a bundle built with the
 * same options, so a function runs locally as the code Lambda gets.
 */
export function esbuildOptions(target: string): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    target,
    format: 'esm',
    mainFields: ['module', 'main'],
    banner: { js: esmRequireBanner },
    minify: true,
    sourcemap: true,
    sourcesContent: false,
  };
}
