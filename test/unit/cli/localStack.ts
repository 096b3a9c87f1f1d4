import type { LocalState } from '../../../lib/cli/localState.ts';

/** A running local stack's state file as `npm run local` writes it, for the CLI's target tests. */
export const localState: LocalState = {
  stage: 'dev',
  endpoint: 'http://127.0.0.1:4566',
  region: 'us-east-1',
  databaseUrl: 'postgres://root@127.0.0.1:5432/local',
  databaseSchema: 'batchflow_local',
  bucket: 'batchflow-dev-uploads',
  queues: {
    ingest: { url: 'http://q/ingest', arn: 'arn:aws:sqs:us-east-1:000000000000:ingest', deadLetterUrl: 'http://q/ingest-dlq' },
    partitions: { url: 'http://q/partitions', arn: 'arn:aws:sqs:us-east-1:000000000000:partitions', deadLetterUrl: 'http://q/partitions-dlq' },
  },
  pid: 1,
  startedAt: '2026-12-01T00:00:00.000Z',
};
