import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { defaultStatePath, readStateFile, type LocalState } from '../lib/cli/localState.ts';

/** Writes the state file atomically (a reader never sees half of it). */
export function writeLocalState(state: LocalState, path = defaultStatePath): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, path);
}

/** Removes the state file if this process wrote it (synchronous: safe in an `exit` handler). */
export function removeLocalState(path = defaultStatePath): void {
  if (readStateFile(path)?.pid === process.pid) rmSync(path, { force: true });
}
