import { DEFAULTS } from '../config.ts';
import { connectDb, type Db } from '../store/db.ts';
import { migrate, schemaStatus } from '../store/migrate.ts';
import { apiOperations } from './apiOperations.ts';
import { directOperations } from './directOperations.ts';
import type { BatchflowOperations } from './operations.ts';
import { CliError, describeTarget, resolveTarget, type TargetKind } from './target.ts';
import { awsUnreachable, unreachable } from './unreachable.ts';

/** The options every command takes (`batchflow --target database --verbose <command>`). */
export interface GlobalOptions {
  readonly target?: TargetKind;
  readonly verbose?: boolean;
}

/** Runs a command's work against the resolved target; see operationsRunner. */
export type RunOperations = <T>(fn: (ops: BatchflowOperations) => Promise<T>, use?: DbUse) => Promise<T>;

/** What a command needs of a database it reaches itself, before it runs (the API's stack migrates itself). */
export interface DbUse {
  /**
   * `current` (the default): the schema must exist and hold every migration, and is not changed;
   * `migrate`: brought up to date first (commands that define things); `any`: as it is (`migrate`).
   */
  readonly schema?: 'current' | 'migrate' | 'any';
}

/**
 * The CLI's runner: resolves the target once per command and runs `fn` with its operations — over
 * the stack's HTTP API for `api`, else over the target's database (pool closed afterwards) and AWS
 * clients. By default that schema must already be current and is not changed; a target that
 * cannot be reached fails with one line saying what was tried and how to fix it.
 */
export function operationsRunner(globalOptions: () => GlobalOptions): RunOperations {
  return async (fn, use = {}) => {
    const options = globalOptions();
    const target = resolveTarget(undefined, undefined, options.target);
    if (options.verbose) console.error(`batchflow: ${describeTarget(target)}`);
    if (target.kind === 'api') {
      try {
        return await fn(apiOperations(target));
      } catch (err) {
        // The API's own failures are one line already; an upload's S3 client may not have been answered.
        throw awsUnreachable(err, { endpoint: target.clients.endpoint, region: target.region }) ?? err;
      }
    }
    const db = connectDb({ url: target.databaseUrl, schema: target.databaseSchema, max: DEFAULTS.databasePoolSize });
    try {
      if (use.schema === 'migrate') await migrate(db);
      else if (use.schema !== 'any') await requireCurrentSchema(db);
      return await fn(directOperations(db, target));
    } catch (err) {
      throw unreachable(err, target) ?? err;
    } finally {
      await db.close();
    }
  };
}

async function requireCurrentSchema(db: Db): Promise<void> {
  const status = await schemaStatus(db);
  if (status.applied.length === 0) {
    throw new CliError(`the database has no batchflow schema "${db.schema}": run \`batchflow migrate\` (the local stack and the deploy do it themselves)`);
  }
  if (status.missing.length > 0) {
    throw new CliError(`schema "${db.schema}" lacks migration(s) ${status.missing.join(', ')} of this version of batchflow: run \`batchflow migrate\``);
  }
}
