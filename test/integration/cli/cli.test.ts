import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { migrations } from '../../../lib/store/schema.ts';

const databaseUrl = inject('databaseUrl');
const schema = 'it_cli_target';
const bin = fileURLToPath(new URL('../../../bin/batchflow.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'batchflow-cli-'));
const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });

afterAll(async () => {
  await sql`drop schema if exists ${sql(schema)} cascade`;
  await sql.end();
  rmSync(scratch, { recursive: true, force: true });
});

/** The CLI as a user runs it, with only the variables given (plus PATH and HOME). */
function cli(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    timeout: 120_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const withPassword = (url: string, password: string) => {
  const u = new URL(url);
  u.password = password;
  return u.toString();
};
const database = { BATCHFLOW_TARGET: 'database', DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema };

async function schemaExists(): Promise<boolean> {
  const rows = await sql`select 1 from information_schema.schemata where schema_name = ${schema}`;
  return rows.length > 0;
}

describe('the CLI against a database target', () => {
  it('does not create the schema for a read-only command, says how to, and migrate does', async () => {
    // Prepare
    await sql`drop schema if exists ${sql(schema)} cascade`;

    // Act
    const before = cli(database, 'status');
    const existedAfterStatus = await schemaExists();
    const migrated = cli(database, 'migrate');
    const again = cli(database, 'migrate');
    const status = cli(database, 'status', '--json');

    // Assess
    expect(before.status).toBe(1);
    expect(before.stderr.trim()).toBe(`batchflow: the database has no batchflow schema "${schema}": run \`batchflow migrate\` (the local stack and the deploy do it themselves)`);
    expect(existedAfterStatus).toBe(false);
    expect(migrated.stdout.trim()).toBe(`applied migration(s) ${migrations.map((m) => m.version).join(', ')}`);
    expect(again.stdout.trim()).toBe('schema is up to date');
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual([]);
  });

  it('names a schema that lacks migrations instead of failing on a missing column', async () => {
    // Prepare: a schema as an older batchflow left it (the last migration not recorded).
    const older = { ...database, DATABASE_SCHEMA: `${schema}_older` };
    cli(older, 'migrate');
    const last = migrations.at(-1)!.version;
    await sql`delete from ${sql(older.DATABASE_SCHEMA)}.schema_migrations where version = ${last}`;

    // Act
    const run = cli(older, 'status');
    await sql`drop schema ${sql(older.DATABASE_SCHEMA)} cascade`;

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`schema "${schema}_older" lacks migration(s) ${last} of this version of batchflow`);
  });

  it('says in --verbose which target it used and how it was chosen, without the password', () => {
    // Act
    const run = cli({ ...database, DATABASE_URL: withPassword(databaseUrl, 'hunter2') }, '--verbose', 'status', '--json');

    // Assess
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^batchflow: target database \(from BATCHFLOW_TARGET\): database postgres:\/\/.*:\*\*\*@/);
    expect(run.stderr).not.toContain('hunter2');
  });

  it('prints one line, not a stack trace, when Postgres cannot be reached', () => {
    // Prepare: port 1 on loopback refuses at once.
    const down = { ...database, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' };

    // Act
    const run = cli(down, 'status');

    // Assess
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      'batchflow: cannot reach Postgres at 127.0.0.1:1/test (target database): ECONNREFUSED; check DATABASE_URL; a deployed stack keeps its database in private subnets, reachable only from inside its VPC',
    ]);
  });

  it('prints one line when the AWS endpoint cannot be reached', () => {
    // Prepare
    cli(database, 'migrate');
    const definition = join(scratch, 'cli_sales.json');
    writeFileSync(definition, JSON.stringify({ name: 'cli_sales', format: 'csv', timeColumn: 'ts', granularity: '1-hour', dimensions: ['region'], metrics: ['amount'] }));
    const file = join(scratch, 'sales.csv');
    writeFileSync(file, 'ts,region,amount\n2026-01-01T00:00:00Z,north,1\n');
    const aws = { ...database, AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', BATCHFLOW_BUCKET: 'nowhere' };

    // Act
    const put = cli(aws, 'datasets', 'put', definition);
    const run = cli(aws, 'upload', file, '--dataset', 'cli_sales');

    // Assess
    expect(put.status, put.stderr).toBe(0);
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual(['batchflow: cannot reach the AWS endpoint http://127.0.0.1:1: ECONNREFUSED; check AWS_ENDPOINT_URL and your network']);
  });

  it('deletes a dataset, then says there is none', () => {
    // Prepare
    cli(database, 'migrate');
    const definition = join(scratch, 'cli_gone.json');
    writeFileSync(definition, JSON.stringify({ name: 'cli_gone', format: 'csv', timeColumn: 'ts', granularity: '1-hour', dimensions: ['region'], metrics: ['amount'] }));
    cli(database, 'datasets', 'put', definition);

    // Act
    const deleted = cli(database, 'datasets', 'delete', 'cli_gone');
    const again = cli(database, 'datasets', 'delete', 'cli_gone');
    const listed = cli(database, 'datasets', 'list', '--json');

    // Assess
    expect(deleted.stdout.trim()).toBe('dataset "cli_gone" deleted: 0 ingestion job(s), 0 aggregate row(s)');
    expect(again.status).toBe(1);
    expect(again.stderr.trim()).toBe('batchflow: no dataset named "cli_gone"');
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((d) => d.name)).not.toContain('cli_gone');
  });

  it('rejects an unknown --target by name', () => {
    const run = cli(database, '--target', 'prod', 'status');

    expect(run.status).toBe(1);
    expect(run.stderr).toContain("option '--target <target>' argument 'prod' is invalid. Allowed choices are local, database, api.");
  });
});
