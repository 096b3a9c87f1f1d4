import { DEFAULTS } from '../config.ts';
import { connectDb, type Db } from '../store/db.ts';
import { migrate, schemaStatus } from '../store/migrate.ts';
import { CliError, describeTarget, resolveTarget, type Target, type TargetKind } from './target.ts';
import { unreachable } from './unreachable.ts';

/** The options every command takes (`batchflow --target database --verbose <command>`). */
export interface GlobalOptions {
  readonly target?: TargetKind;
  readonly verbose?: boolean;
}

/** Runs a command's database work; see dbRunner. */
export type WithDb = <T>(fn: (db: Db, target: Target) => Promise<T>, use?: DbUse) => Promise<T>;

/** What a command needs of its database before it runs. */
export interface DbUse {
  /**
   * `current` (the default): the schema must exist and hold every migration, and is not changed;
   * `migrate`: brought up to date first (commands that define things); `any`: as it is (`migrate`).
   */
  readonly schema?: 'current' | 'migrate' | 'any';
}

/**
 * The CLI's withDb: runs `fn` against the resolved target's database and closes the pool. By
 * default the schema must already be current and is not changed; a target that cannot be reached
 * fails with one line saying what was tried and how to fix it.
 */
export function dbRunner(globalOptions: () => GlobalOptions): WithDb {
  return async (fn, use = {}) => {
    const options = globalOptions();
    const target = resolveTarget(undefined, undefined, options.target);
    if (options.verbose) console.error(`batchflow: ${describeTarget(target)}`);
    const db = connectDb({ url: target.databaseUrl, schema: target.databaseSchema, max: DEFAULTS.databasePoolSize });
    try {
      if (use.schema === 'migrate') await migrate(db);
      else if (use.schema !== 'any') await requireCurrentSchema(db);
      return await fn(db, target);
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

