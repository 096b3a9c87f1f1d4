import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { readDefinitionFiles } from '../../../lib/adapters/definitionFiles.ts';
import { applyDefinitions } from '../../../lib/definitions/apply.ts';
import { DefinitionsError } from '../../../lib/definitions/definitions.ts';
import { listAnalyticsJobs } from '../../../lib/store/analytics.ts';
import { listDatasets } from '../../../lib/store/datasets.ts';
import { connectDb } from '../../../lib/store/db.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { migrations } from '../../../lib/store/schema.ts';

/**
 * What the stack's migrate trigger does on deploy, against a real Postgres: the schema, then the
 * definitions bundled from the repository's `definitions/` directory.
 */

const databaseUrl = inject('databaseUrl');
const repoDefinitions = new URL('../../../definitions/', import.meta.url).pathname;
const schemas: string[] = [];
const newSchema = () => {
  const schema = `it_defs_${randomBytes(3).toString('hex')}`;
  schemas.push(schema);
  return schema;
};
const admin = connectDb({ url: databaseUrl, schema: 'public', max: 1 });

afterAll(async () => {
  for (const schema of schemas) await admin.sql`drop schema if exists ${admin.sql(schema)} cascade`;
  await admin.close();
});


describe('the migrate function', () => {
  it('migrates an empty schema and applies the repository definitions, and a second run changes nothing', async () => {
    // Prepare
    const schema = newSchema();
    vi.stubEnv('DATABASE_URL', databaseUrl);
    vi.stubEnv('DATABASE_SCHEMA', schema);
    vi.stubEnv('DATABASE_POOL_SIZE', '1');
    vi.stubEnv('DEFINITIONS_DIR', repoDefinitions);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const expectedDataset = JSON.parse(readFileSync(join(repoDefinitions, 'datasets', 'sales.json'), 'utf8')) as { name: string };
    const expectedJob = JSON.parse(readFileSync(join(repoDefinitions, 'jobs', 'daily-sales-by-region.json'), 'utf8')) as { name: string; dataset: string };
    try {
      const { handler } = await import('../../../functions/migrate.ts');

      // Act
      const first = await handler({}, {} as Context);
      const second = await handler({}, {} as Context);

      // Assess
      expect(first).toEqual({ schema, applied: migrations.map((m) => m.version), datasets: [expectedDataset.name], jobs: [expectedJob.name] });
      expect(second).toEqual({ schema, applied: [], datasets: [expectedDataset.name], jobs: [expectedJob.name] });
      const db = connectDb({ url: databaseUrl, schema, max: 1 });
      try {
        expect((await listDatasets(db)).map((d) => d.name)).toEqual([expectedDataset.name]);
        expect((await listAnalyticsJobs(db)).map((j) => [j.definition.name, j.definition.dataset])).toEqual([[expectedJob.name, expectedJob.dataset]]);
      } finally {
        await db.close();
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('writes nothing when any file is bad, and names the file', async () => {
    // Prepare
    const schema = newSchema();
    const db = connectDb({ url: databaseUrl, schema, max: 1 });
    await migrate(db);
    const dir = mkdtempSync(join(tmpdir(), 'batchflow-defs-'));
    cpSync(repoDefinitions, dir, { recursive: true });
    mkdirSync(join(dir, 'jobs'), { recursive: true });
    const broken = { name: 'broken', schedule: 'EVERYHOUR', dataset: 'sales', entity: 'colour', granularity: '1-hour', delayHours: 0, filter: null, metrics: [{ metric: 'amount', aggregations: ['sum'] }] };
    writeFileSync(join(dir, 'jobs', 'zz-broken.json'), JSON.stringify(broken));

    try {
      // Act
      const apply = applyDefinitions(db, readDefinitionFiles(dir));

      // Assess
      await expect(apply).rejects.toThrow(DefinitionsError);
      await expect(applyDefinitions(db, readDefinitionFiles(dir))).rejects.toThrow(/jobs\/zz-broken\.json: entity/);
      expect(await listDatasets(db)).toEqual([]);
      expect(await listAnalyticsJobs(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
