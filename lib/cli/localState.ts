import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { QueueName } from '../topology.ts';

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

/** `<root>/.batchflow/local.json` (this file lives in `<root>/lib/cli/`). */
export const defaultStatePath = fileURLToPath(new URL('../../.batchflow/local.json', import.meta.url));

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

/** The state file as written, stale or not: undefined when it is missing or unreadable. */
export function readStateFile(path: string): LocalState | undefined {
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
