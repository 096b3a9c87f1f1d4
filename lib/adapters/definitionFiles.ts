import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DefinitionFile } from '../definitions/definitions.ts';

/**
 * The definition files of a directory: `datasets/*.json` and `jobs/*.json`, in name order (so a
 * deploy applies them in a stable order). A missing subdirectory holds no files.
 */
export function readDefinitionFiles(dir: string): { datasets: DefinitionFile[]; jobs: DefinitionFile[] } {
  const read = (sub: string): DefinitionFile[] => {
    const path = join(dir, sub);
    if (!existsSync(path)) return [];
    return readdirSync(path)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => ({ path: `${sub}/${name}`, text: readFileSync(join(path, name), 'utf8') }));
  };
  return { datasets: read('datasets'), jobs: read('jobs') };
}
