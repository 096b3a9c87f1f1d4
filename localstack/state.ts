import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { QueueName } from '../lib/topology.ts';
import { localDir } from './paths.ts';

/** Where a running local stack is, for the `batchflow` CLI and other tools. */
export interface LocalState {
  readonly stage: string;
  readonly endpoint: string;
  readonly region: string;
  readonly databaseUrl: string;
  readonly databaseSchema: string;
  readonly bucket: string;
  readonly queues: Record<QueueName, { readonly url: string; readonly arn: string; readonly deadLetterUrl: string }>;
  /** The process running the stack: the file is stale once it is gone. */
  readonly pid: number;
  readonly startedAt: string;
}

/** `<root>/.batchflow/local.json`. */
export const defaultStatePath = join(localDir, 'local.json');

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

/**
 * The running local stack, or undefined when there is none (no file, or a stale one whose process
 * has exited).
 *
 * @example
 * const local = readLocalState();
 * if (local) console.log(`local stack at ${local.endpoint}, bucket ${local.bucket}`);
 */
export function readLocalState(path = defaultStatePath): LocalState | undefined {
  const state = readStateFile(path);
  return state && isAlive(state.pid) ? state : undefined;
}

function readStateFile(path: string): LocalState | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
}

/** True when a process with this id exists (EPERM: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
