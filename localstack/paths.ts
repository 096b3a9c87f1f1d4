import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (this file lives in `<root>/localstack/`). */
export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** Local runtime files: PGlite's data, the running stack's state (git-ignored). */
export const localDir = join(projectRoot, '.batchflow');
