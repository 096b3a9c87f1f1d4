import { describe, expect, it } from 'vitest';
import { localTarget } from '../../../lib/cli/target.ts';
import { unreachable } from '../../../lib/cli/unreachable.ts';
import { localState } from './localStack.ts';

const target = localTarget({ ...localState, databaseUrl: 'postgres://root:pw@127.0.0.1:55432/batchflow', databaseSchema: 'batchflow' });

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
