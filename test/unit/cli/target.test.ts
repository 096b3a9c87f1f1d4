import { describe, expect, it } from 'vitest';
import { describeTarget, redactedUrl, resolveTarget } from '../../../lib/cli/target.ts';
import { ConfigError, loadCliEnvironment } from '../../../lib/config.ts';
import { localState } from './localStack.ts';

const local = localState;
const stray = { DATABASE_URL: 'postgres://me:secret@db.example.com:5432/prod', BATCHFLOW_BUCKET: 'prod-uploads' };
const running = () => local;
const none = () => undefined;

describe('resolveTarget', () => {
  it('prefers a running local stack over a DATABASE_URL exported for other work', () => {
    const target = resolveTarget(loadCliEnvironment(stray), running);

    expect(target).toMatchObject({ kind: 'local', chosenBy: 'default', databaseUrl: local.databaseUrl, bucket: local.bucket });
  });

  it('uses DATABASE_URL when no local stack runs', () => {
    const target = resolveTarget(loadCliEnvironment(stray), none);

    expect(target).toMatchObject({ kind: 'database', chosenBy: 'default', databaseUrl: stray.DATABASE_URL, bucket: 'prod-uploads' });
  });

  it('obeys --target database even with a local stack running', () => {
    const target = resolveTarget(loadCliEnvironment(stray), running, 'database');

    expect(target).toMatchObject({ kind: 'database', chosenBy: 'flag', databaseUrl: stray.DATABASE_URL });
  });

  it('obeys BATCHFLOW_TARGET, and --target over it', () => {
    const env = loadCliEnvironment({ ...stray, BATCHFLOW_TARGET: 'database' });

    expect(resolveTarget(env, running)).toMatchObject({ kind: 'database', chosenBy: 'environment' });
    expect(resolveTarget(env, running, 'local')).toMatchObject({ kind: 'local', chosenBy: 'flag' });
  });

  it('fails naming what an explicit target lacks', () => {
    expect(() => resolveTarget(loadCliEnvironment({}), running, 'database')).toThrow(/--target database needs DATABASE_URL/);
    expect(() => resolveTarget(loadCliEnvironment(stray), none, 'local')).toThrow(/--target local: no running local stack .*npm run local/);
    expect(() => resolveTarget(loadCliEnvironment({ BATCHFLOW_TARGET: 'local' }), none)).toThrow(/BATCHFLOW_TARGET=local: no running local stack/);
  });

  it('fails saying how to start one when there is neither', () => {
    expect(() => resolveTarget(loadCliEnvironment({}), none)).toThrow(/no running local stack found .* DATABASE_URL is not set/);
  });

  it('rejects an unknown BATCHFLOW_TARGET by name', () => {
    expect(() => loadCliEnvironment({ BATCHFLOW_TARGET: 'prod' })).toThrow(ConfigError);
    expect(() => loadCliEnvironment({ BATCHFLOW_TARGET: 'prod' })).toThrow(/BATCHFLOW_TARGET: "prod" is not a target/);
  });
});

describe('describeTarget', () => {
  it('names the target and how it was chosen, never the password', () => {
    const line = describeTarget(resolveTarget(loadCliEnvironment(stray), none));

    expect(line).toBe('target database (found): database postgres://me:***@db.example.com:5432/prod (schema batchflow), AWS AWS itself (us-east-1), bucket prod-uploads');
    expect(line).not.toContain('secret');
  });

  it('leaves a URL without a password as it is', () => {
    expect(redactedUrl(local.databaseUrl)).toBe(local.databaseUrl);
  });
});
