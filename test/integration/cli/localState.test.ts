import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readLocalState } from '../../../lib/cli/localState.ts';
import { writeLocalState } from '../../../localstack/localStateWriter.ts';

const endpoint = inject('awsEndpoint');
const databaseUrl = inject('databaseUrl');
const schema = 'it_localstack_stack';
const scratch = mkdtempSync(join(tmpdir(), 'batchflow-state-'));

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('local state file', () => {
  it('ignores a state file whose process has exited', () => {
    // Prepare
    const statePath = join(scratch, 'stale.json');
    const exited = spawnSync(process.execPath, ['-e', '']).pid!;
    writeLocalState(
      {
        stage: 'gone',
        endpoint,
        region: 'us-east-1',
        databaseUrl,
        databaseSchema: schema,
        bucket: 'batchflow-gone-uploads',
        queues: {
          ingest: { url: 'http://x/ingest', arn: 'arn:x:ingest', deadLetterUrl: 'http://x/ingest-dlq' },
          partitions: { url: 'http://x/partitions', arn: 'arn:x:partitions', deadLetterUrl: 'http://x/partitions-dlq' },
        },
        pid: exited,
        startedAt: new Date().toISOString(),
      },
      statePath,
    );

    // Act
    const state = readLocalState(statePath);

    // Assess
    expect(state).toBeUndefined();
  });
});
