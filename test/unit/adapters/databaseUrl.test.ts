import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { databaseUrlFromSecret } from '../../../lib/adapters/database.ts';

const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:batchflow/database-AbC123';
/** What RDS keeps in a cluster's generated secret. */
const rdsSecret = JSON.stringify({ engine: 'postgres', host: 'cluster.abc.eu-west-1.rds.amazonaws.com', port: 5432, username: 'batchflow', password: 'p@ss:w/rd', dbname: 'batchflow' });

/** How postgres.js itself reads a URL: the independent check of what we built. */
function parsed(url: string) {
  const options = postgres(url).options;
  return { host: options.host[0], port: options.port[0], user: options.user, pass: options.pass, database: options.database, ssl: options.ssl };
}

describe('databaseUrlFromSecret', () => {
  it('connects to the RDS Proxy endpoint instead of the cluster host in the secret, with TLS required', () => {
    // Prepare
    const host = 'proxy.proxy-abc.eu-west-1.rds.amazonaws.com';

    // Act
    const url = databaseUrlFromSecret(arn, rdsSecret, { host, ssl: 'require' });

    // Assess
    expect(parsed(url)).toEqual({ host, port: 5432, user: 'batchflow', pass: 'p@ss:w/rd', database: 'batchflow', ssl: 'require' });
  });

  it("uses the secret's host without an override, and no TLS when told (LocalStack's Postgres)", () => {
    // Prepare
    const secret = JSON.stringify({ host: 'postgres', port: 5432, username: 'batchflow', password: 'batchflow', dbname: 'batchflow' });

    // Act
    const url = databaseUrlFromSecret(arn, secret, { ssl: 'disable' });

    // Assess
    expect(parsed(url)).toMatchObject({ host: 'postgres', ssl: false });
  });

  it('names the secret when it is not JSON or lacks the host or user, without echoing its content', () => {
    // Prepare
    const cases = ['not json {', JSON.stringify({ username: 'u', password: 'hunter2' }), JSON.stringify({ host: 'h', password: 'hunter2' })];

    // Act
    const errors = cases.map((secret) => {
      try {
        databaseUrlFromSecret(arn, secret, { ssl: 'require' });
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    });

    // Assess
    expect(errors[0]).toMatch(new RegExp(`secret ${arn} is not JSON`));
    expect(errors[1]).toBe(`secret ${arn} lacks host`);
    expect(errors[2]).toBe(`secret ${arn} lacks username`);
    for (const e of errors) expect(e).not.toContain('hunter2');
  });
});
