import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { isTransient, retryTransient } from '../../../lib/adapters/database.ts';
import { withTransientRetries } from '../../../lib/adapters/transientFailures.ts';
import { processPartition } from '../../../lib/process/processPartition.ts';
import { connectDb, type Db } from '../../../lib/store/db.ts';
import { getIngestJob } from '../../../lib/store/ingestJobs.ts';
import { getPartition } from '../../../lib/store/partitions.ts';
import { resourceName } from '../../../lib/topology.ts';
import { toSqsEvent } from '../../../localstack/events/sqs/sqsEvent.ts';
import { compareQueries } from './expected.ts';
import { createHeld, prepareCsv, processContext, splitHeld, usePipeline } from './pipeline.ts';
import { waitFor } from '../localstack/support.ts';

/**
 * Database faults against the real Postgres and the real SQS endpoint: errors provoked in Postgres
 * itself and classified; a merge whose COMMIT reply is lost, retried and counted once; a message
 * whose retries ran out back in seconds. (A session terminated in the middle of a merge is not
 * tested here: postgres.js 3.4.9 then writes its ROLLBACK to a closed socket, an uncaught TypeError, and
 * the pool's connection never reconnects — https://github.com/porsager/postgres/issues/1208. The
 * fault-injection suite, test/chaos/, does it to the local stack, where the worker dies as a Lambda
 * would and the message is redelivered.)
 */

const p = usePipeline('faults');
const pools: Db[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) server.close();
  await Promise.all(pools.map((db) => db.close()));
});

/** A pool of the test's own on the pipeline's database (closed after the file). */
function pool(url = p.databaseUrl): Db {
  const db = connectDb({ url, schema: p.schema, max: 1 });
  pools.push(db);
  return db;
}

/** The error a promise rejects with. */
async function failure(work: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await work;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a failure');
}

/** A free local port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A TCP relay to the real Postgres that, while armed, passes a COMMIT through and then cuts the
 * connection instead of relaying the server's reply: the transaction is committed, the client
 * sees a dropped connection (as when the network fails at that moment).
 */
async function commitReplyDropper(): Promise<{ url: string; arm(): void; dropped(): number }> {
  const target = new URL(p.databaseUrl);
  let armed = false;
  let dropped = 0;
  const server = createServer((client: Socket) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    let commitSent = false;
    let mergeSent = false;
    for (const s of [client, upstream]) s.on('error', () => {});
    client.on('data', (chunk: Buffer) => {
      // The merge's transaction, not the attempt's start before it: it adds to the job's counts.
      // (Its COMMIT is not recognisable from here: postgres.js prepared "commit" on the attempt's
      // transaction and now sends only a Bind naming the statement.)
      if (armed && chunk.includes('partitions_done = partitions_done + 1')) mergeSent = true;
      if (mergeSent) commitSent = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      // The server's CommandComplete "COMMIT": committed. (Earlier bytes may still be the reply to
      // the statement before; cutting there would lose the COMMIT itself, a different fault.)
      if (commitSent && chunk.includes('COMMIT\0')) {
        armed = false;
        dropped++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(p.databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return { url: url.href, arm: () => (armed = true), dropped: () => dropped };
}

describe('isTransient, on errors Postgres itself raised', () => {
  it('retries deadlocks, serialization failures, terminated sessions and refused connections, not timeouts or constraint errors', async () => {
    // Prepare
    const sql = p.db.sql;
    const t = sql(`${p.schema}.fault_rows`);
    await sql`create table ${t} (id int primary key, v int not null)`;
    await sql`insert into ${t} values (1, 0), (2, 0)`;
    const [a, b] = [await pool().sql.reserve(), await pool().sql.reserve()];

    // Act
    // 40P01: two transactions lock the two rows in opposite order.
    await a`begin`;
    await b`begin`;
    await a`update ${t} set v = v + 1 where id = 1`;
    await b`update ${t} set v = v + 1 where id = 2`;
    const crossed = await Promise.allSettled([a`update ${t} set v = v + 1 where id = 2`, b`update ${t} set v = v + 1 where id = 1`]);
    await a`rollback`;
    await b`rollback`;
    const deadlock = crossed.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))[0];
    // 40001: two serializable transactions each read what the other writes.
    await a`begin isolation level serializable`;
    await b`begin isolation level serializable`;
    await a`select sum(v) from ${t}`;
    await b`select sum(v) from ${t}`;
    await a`insert into ${t} values (3, 0)`;
    await b`insert into ${t} values (4, 0)`;
    await a`commit`;
    const serialization = await failure(b`commit`);
    await b`rollback`.catch(() => {});
    // 57014: our statement_timeout, here shortened.
    await a`set statement_timeout = 100`;
    const timeout = await failure(a`select pg_sleep(2)`);
    await a`set statement_timeout = 120000`;
    // 23505: a constraint, the same every time.
    const duplicate = await failure(a`insert into ${t} values (1, 0)`);
    a.release();
    b.release();
    // 57P01: the session is terminated while its statement runs (what a restart does to it).
    const victim = pool();
    const [{ pid }] = await victim.sql`select pg_backend_pid() as pid`;
    const sleeping = failure(victim.sql`select pg_sleep(10)`);
    await waitFor(async () => (await sql`select 1 from pg_stat_activity where pid = ${pid} and state = 'active'`).length > 0, 5000, 'the sleep');
    await sql`select pg_terminate_backend(${pid})`;
    const terminated = await sleeping;
    // ECONNREFUSED: nothing listens.
    const url = new URL(p.databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());
    const refused = await failure(pool(url.href).sql`select 1`);

    // Assess
    expect([deadlock?.code, serialization.code, timeout.code, duplicate.code, refused.code]).toEqual(['40P01', '40001', '57014', '23505', 'ECONNREFUSED']);
    // postgres.js rejects the running query with the server's FATAL 57P01, or with CONNECTION_CLOSED
    // when the socket's end is read first (both seen here).
    expect(['57P01', 'CONNECTION_CLOSED']).toContain(terminated.code);
    expect([deadlock, serialization, terminated, refused].map(isTransient)).toEqual([true, true, true, true]);
    expect([timeout, duplicate].map(isTransient)).toEqual([false, false]);
  });
});

describe('a merge interrupted by the database', () => {
  it('is not counted twice when the COMMIT went through but its reply was lost', async () => {
    // Prepare
    const { def, file, independent } = await prepareCsv(p, 'lostcommit', { records: 1200, seed: 72 });
    const held = await createHeld(p);
    const { outcome, messages } = await splitHeld(p, held, 'uploads/lostcommit/c.csv', file.bytes);
    const dropper = await commitReplyDropper();
    const viaDropper = pool(dropper.url);
    const retried: string[] = [];
    const [first, ...rest] = messages;

    // Act
    dropper.arm();
    const outcomeOfFirst = await retryTransient(() => processPartition(processContext(p, viaDropper), first!), {
      retries: 3,
      minTimeoutMs: 100,
      maxTimeoutMs: 200,
      onRetry: (error) => retried.push((error as { code?: string }).code ?? error.message),
    });
    const partition = await getPartition(p.db, outcome.jobId!, first!.idx);
    for (const m of rest) await processPartition(processContext(p), m);
    const job = (await getIngestJob(p.db, outcome.jobId!))!;
    const { problems } = await compareQueries(p.db, def, independent.good, def.rollups);

    // Assess
    expect(dropper.dropped()).toBe(1);
    expect(retried).toHaveLength(1);
    expect(isTransient({ code: retried[0] })).toBe(true);
    // The retry found the partition completed by the first attempt's COMMIT and merged nothing.
    expect(outcomeOfFirst.status).toBe('duplicate');
    expect(partition?.status).toBe('completed');
    expect(job).toMatchObject({ status: 'completed', partitionsDone: messages.length, recordsAggregated: independent.good.length });
    expect(problems).toEqual([]);
  });
});

describe('a message whose transient errors outlast the retries', () => {
  it('comes back in seconds, well before the visibility timeout; other errors wait it out', async () => {
    // Prepare
    const { QueueUrl: queueUrl } = await p.sqs.send(
      new CreateQueueCommand({ QueueName: resourceName(p.stage, 'FaultPartitions'), Attributes: { VisibilityTimeout: '600' } }),
    );
    const url = new URL(p.databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());
    const unreachable = pool(url.href);
    const policy = { retry: { retries: 2, minTimeoutMs: 50, maxTimeoutMs: 100 }, redelivery: { baseSeconds: 2, maxSeconds: 4 } };
    const handle = withTransientRetries(p.sqs, queueUrl!, policy);
    const receive = async (waitSeconds: number): Promise<Message | undefined> => {
      const { Messages } = await p.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: waitSeconds, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
      );
      return Messages?.[0];
    };
    await p.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ v: 1, jobId: 999_999, idx: 0 }) }));
    const toRecord = (m: Message) => toSqsEvent([m], 'arn:aws:sqs:us-east-1:000000000000:q', 'us-east-1').Records[0]!;

    // Act
    const firstDelivery = (await receive(5))!;
    const transient = await failure(handle(toRecord(firstDelivery), async () => void (await processPartition(processContext(p, unreachable), JSON.parse(firstDelivery.Body!)))));
    const failedAt = performance.now();
    const secondDelivery = await waitFor(() => receive(2), 20_000, 'the redelivery');
    const redeliveredAfterMs = performance.now() - failedAt;
    // The same message on a reachable database: the job is unknown, not a transient error.
    const permanent = await failure(handle(toRecord(secondDelivery), async () => void (await processPartition(processContext(p), JSON.parse(secondDelivery.Body!)))));
    const meanwhile = await receive(6);

    // Assess
    expect(transient.code).toBe('ECONNREFUSED');
    expect(secondDelivery.MessageId).toBe(firstDelivery.MessageId);
    expect(secondDelivery.Attributes?.ApproximateReceiveCount).toBe('2');
    // Receive 1: 1–2 s (base 2 s, jittered to half), plus the poll; the queue's timeout is 600 s.
    expect(redeliveredAfterMs).toBeLessThan(10_000);
    expect(permanent.message).toMatch(/partition 999999\/0 is not recorded/);
    expect(meanwhile).toBeUndefined();
  });
});
