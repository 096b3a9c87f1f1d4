import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { retryOnConnectionErrors } from '../../../lib/adapters/database.ts';
import { connectDb } from '../../../lib/store/db.ts';
import { migrate } from '../../../lib/store/migrate.ts';
import { migrations } from '../../../lib/store/schema.ts';
import { freePort } from '../../support/ports.ts';

/**
 * The deploy's migration when the database answers late (a new RDS Proxy whose target is not
 * available yet): connection errors are retried until it answers; other errors are not.
 */

const databaseUrl = new URL(inject('databaseUrl'));
const schemas: string[] = [];
const admin = connectDb({ url: databaseUrl.href, schema: 'public', max: 1 });

afterAll(async () => {
  for (const schema of schemas) await admin.sql`drop schema if exists ${admin.sql(schema)} cascade`;
  await admin.close();
});


/** A TCP relay on `port` to the real Postgres, as the database "coming up". */
async function relay(port: number): Promise<{ server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(databaseUrl.port || 5432), databaseUrl.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('retryOnConnectionErrors', () => {
  it('migrates once the database starts answering, after refused connections', async () => {
    // Prepare
    const port = await freePort();
    const schema = `it_retry_${randomBytes(3).toString('hex')}`;
    schemas.push(schema);
    const url = new URL(databaseUrl.href);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    const db = connectDb({ url: url.href, schema, max: 1 });
    const retries: number[] = [];
    let up: Awaited<ReturnType<typeof relay>> | undefined;
    const comingUp = new Promise<void>((resolve) => setTimeout(async () => ((up = await relay(port)), resolve()), 700));

    try {
      // Act
      const applied = await retryOnConnectionErrors(() => migrate(db), {
        retries: 6,
        minTimeoutMs: 200,
        maxTimeoutMs: 400,
        onRetry: (_error, attempt) => retries.push(attempt),
      });

      // Assess
      expect(applied).toEqual(migrations.map((m) => m.version));
      expect(retries.length).toBeGreaterThanOrEqual(1);
    } finally {
      await comingUp;
      await db.close();
      await up?.close();
    }
  });

  it('fails at once on an error that is not about the connection', async () => {
    // Prepare
    let calls = 0;
    const work = async () => {
      calls++;
      throw Object.assign(new Error('relation "nope" does not exist'), { code: '42P01' });
    };

    // Act
    const run = retryOnConnectionErrors(work, { retries: 5, minTimeoutMs: 10, maxTimeoutMs: 10 });

    // Assess
    await expect(run).rejects.toThrow('relation "nope" does not exist');
    expect(calls).toBe(1);
  });

  it('gives up after its retries when the database never answers, with the connection error', async () => {
    // Prepare
    const port = await freePort();
    const db = connectDb({ url: `postgres://postgres@127.0.0.1:${port}/test`, schema: 'never', max: 1 });
    let attempts = 0;

    try {
      // Act
      const run = retryOnConnectionErrors(() => (attempts++, migrate(db)), { retries: 2, minTimeoutMs: 50, maxTimeoutMs: 50 });

      // Assess
      await expect(run).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(attempts).toBe(3);
    } finally {
      await db.close();
    }
  });
});
