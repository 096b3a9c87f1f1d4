import { describe, expect, it } from 'vitest';
import { localTarget } from '../../../lib/cli/target.ts';
import { apiUnreachable, unreachable } from '../../../lib/cli/unreachable.ts';
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

describe('apiUnreachable', () => {
  // Shaped as Node's fetch fails: TypeError('fetch failed') with the socket's error as its cause.
  const fetchFailed = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
  const deployed = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/');

  it('names the URL, the cause and what to check', () => {
    expect(apiUnreachable(fetchFailed('ENOTFOUND'), deployed)?.message).toBe(
      'cannot reach the batchflow API at https://abc123.execute-api.eu-west-1.amazonaws.com/: ENOTFOUND; check BATCHFLOW_API_URL (the stack output ApiUrl) and your network',
    );
    expect(apiUnreachable(fetchFailed('ECONNREFUSED'), new URL('http://127.0.0.1:4567/'))?.message).toContain(': ECONNREFUSED (is `npm run local` running?);');
  });

  it('says a timeout is one', () => {
    const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });

    expect(apiUnreachable(timeout, deployed)?.message).toContain(': no answer within the timeout;');
  });

  it('leaves every other error alone', () => {
    expect(apiUnreachable(new Error('plain'), deployed)).toBeUndefined();
    expect(apiUnreachable(new SyntaxError('Unexpected token'), deployed)).toBeUndefined();
  });
});
