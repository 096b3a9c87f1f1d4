import { describe, expect, it } from 'vitest';
import { localTarget } from '../../../lib/cli/target.ts';
import { unreachable } from '../../../lib/cli/unreachable.ts';

const target = localTarget({
  stage: 'dev',
  endpoint: 'http://127.0.0.1:4566',
  region: 'us-east-1',
  databaseUrl: 'postgres://root:pw@127.0.0.1:55432/batchflow',
  databaseSchema: 'batchflow',
  bucket: 'b',
  queues: {
    ingest: { url: 'u', arn: 'arn:aws:sqs:us-east-1:0:i', deadLetterUrl: 'd' },
    partitions: { url: 'u', arn: 'arn:aws:sqs:us-east-1:0:p', deadLetterUrl: 'd' },
  },
  pid: 1,
  startedAt: '2026-12-01T00:00:00.000Z',
});

// Shaped as postgres.js builds its connection errors (Errors.connection: code, errno, address, port).
const postgresError = (code: string) => Object.assign(new Error(`write ${code} 127.0.0.1:55432`), { code, errno: code, address: '127.0.0.1', port: 55432 });

describe('unreachable', () => {
  it('turns a busy PGlite (CONNECT_TIMEOUT) into one line naming the address and the fix', () => {
    const error = unreachable(postgresError('CONNECT_TIMEOUT'), target);

    expect(error?.message).toBe(
      'cannot reach Postgres at 127.0.0.1:55432/batchflow (target local stack): no connection within the timeout (the server is busy or unreachable); is `npm run local` still running? (restart it, or choose another target with --target)',
    );
    expect(error?.message).not.toContain('pw');
  });

  it('names a refused login and a missing database', () => {
    expect(unreachable(Object.assign(new Error('x'), { code: '28P01' }), target)?.message).toContain(': the password was refused;');
    expect(unreachable(Object.assign(new Error('x'), { code: '3D000' }), target)?.message).toContain(': the database does not exist;');
  });

  it('leaves every other error alone', () => {
    const sqlError = Object.assign(new Error('division by zero'), { code: '22012' });
    const awsError = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

    expect(unreachable(sqlError, target)).toBeUndefined();
    expect(unreachable(awsError, target)).toBeUndefined();
    expect(unreachable(new Error('plain'), target)).toBeUndefined();
  });
});
