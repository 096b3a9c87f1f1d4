import { describe, expect, it } from 'vitest';
import { describeTarget, redactedUrl, resolveTarget } from '../../../lib/cli/target.ts';
import { ConfigError, loadCliEnvironment } from '../../../lib/config.ts';
import { localState } from './localStack.ts';

const local = localState;
const stray = { DATABASE_URL: 'postgres://me:secret@db.example.com:5432/prod', BATCHFLOW_BUCKET: 'prod-uploads' };
const running = () => local;
const none = () => undefined;
const deployed = { BATCHFLOW_API_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com/', AWS_REGION: 'eu-west-1' };

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

  it('fails saying how to start one, or which variable names a deployed stack, when there is none', () => {
    expect(() => resolveTarget(loadCliEnvironment({}), none)).toThrow(/no running local stack found .*neither BATCHFLOW_API_URL nor DATABASE_URL is set.*BATCHFLOW_API_URL \(the stack output ApiUrl\)/);
  });

  it('uses BATCHFLOW_API_URL when no local stack runs, over a DATABASE_URL', () => {
    const target = resolveTarget(loadCliEnvironment({ ...stray, ...deployed }), none);

    expect(target).toMatchObject({ kind: 'api', chosenBy: 'default', region: 'eu-west-1', bucket: 'prod-uploads' });
    expect(target.kind === 'api' && target.apiUrl.href).toBe(deployed.BATCHFLOW_API_URL);
  });

  it('still prefers a running local stack over BATCHFLOW_API_URL', () => {
    expect(resolveTarget(loadCliEnvironment({ ...stray, ...deployed }), running)).toMatchObject({ kind: 'local', chosenBy: 'default' });
  });

  it('obeys --target api and BATCHFLOW_TARGET=api, even with a local stack running', () => {
    expect(resolveTarget(loadCliEnvironment(deployed), running, 'api')).toMatchObject({ kind: 'api', chosenBy: 'flag' });
    expect(resolveTarget(loadCliEnvironment({ ...deployed, BATCHFLOW_TARGET: 'api' }), running)).toMatchObject({ kind: 'api', chosenBy: 'environment' });
  });

  it('obeys --target database over BATCHFLOW_API_URL', () => {
    expect(resolveTarget(loadCliEnvironment({ ...stray, ...deployed }), none, 'database')).toMatchObject({ kind: 'database', chosenBy: 'flag' });
  });

  it('fails in one line naming BATCHFLOW_API_URL when the api target has none, or one that is not a URL', () => {
    expect(() => resolveTarget(loadCliEnvironment(stray), running, 'api')).toThrow(/^--target api needs BATCHFLOW_API_URL \(the stack output ApiUrl/);
    expect(() => resolveTarget(loadCliEnvironment({ BATCHFLOW_TARGET: 'api' }), none)).toThrow(/^BATCHFLOW_TARGET=api needs BATCHFLOW_API_URL/);
    expect(() => resolveTarget(loadCliEnvironment({ BATCHFLOW_API_URL: 'not a url' }), none)).toThrow(/BATCHFLOW_API_URL "not a url" is not a URL/);
    expect(() => resolveTarget(loadCliEnvironment({ BATCHFLOW_API_URL: 'ftp://x/' }), none)).toThrow(/must be an http\(s\) URL/);
  });

  it('rejects an unknown BATCHFLOW_TARGET by name', () => {
    expect(() => loadCliEnvironment({ BATCHFLOW_TARGET: 'prod' })).toThrow(ConfigError);
    expect(() => loadCliEnvironment({ BATCHFLOW_TARGET: 'prod' })).toThrow(/BATCHFLOW_TARGET: "prod" is not a target \(expected local, database or api\)/);
  });
});

describe('describeTarget', () => {
  it('names the target and how it was chosen, never the password', () => {
    const line = describeTarget(resolveTarget(loadCliEnvironment(stray), none));

    expect(line).toBe('target database (found): database postgres://me:***@db.example.com:5432/prod (schema batchflow), AWS AWS itself (us-east-1), bucket prod-uploads');
    expect(line).not.toContain('secret');
  });

  it('names the API and how it was found, never a password in the URL', () => {
    const found = describeTarget(resolveTarget(loadCliEnvironment({ ...deployed, BATCHFLOW_API_URL: 'https://u:hunter2@abc123.execute-api.eu-west-1.amazonaws.com/' }), none));
    const flagged = describeTarget(resolveTarget(loadCliEnvironment(deployed), running, 'api'));

    expect(found).toBe('target api (found BATCHFLOW_API_URL): API https://abc123.execute-api.eu-west-1.amazonaws.com/, signing region eu-west-1 unless the host names one');
    expect(found).not.toContain('hunter2');
    expect(flagged).toMatch(/^target api \(from --target\): /);
  });

  it('leaves a URL without a password as it is', () => {
    expect(redactedUrl(local.databaseUrl)).toBe(local.databaseUrl);
  });
});
