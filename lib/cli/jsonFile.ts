import { readFileSync } from 'node:fs';
import { CliError } from './target.ts';

/** A JSON file the user named: its parsed content, or a CliError naming the file and what is wrong. */
export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`${file}: ${(err as Error).message}`);
  }
}
