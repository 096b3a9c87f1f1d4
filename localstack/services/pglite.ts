import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';
import { isAlive } from '../../lib/cli/localState.ts';
import { localDir } from '../paths.ts';
import { WireQueue } from './wireQueue.ts';

export interface PostgresOptions {
  /** A Postgres to use as it is. @default process.env.DATABASE_URL, else an embedded PGlite */
  readonly url?: string;
  /** PGlite's data directory. @default `<root>/.batchflow/pgdata` */
  readonly dataDir?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Preferred port; any free one when it is taken. @default 5433 */
  readonly port?: number;
  /**
   * Client connections served at once (they share PGlite's one session, turn by turn).
   * Each Lambda worker opens its own pool, so allow for maxConcurrency × pool size.
   * @default 64
   */
  readonly maxConnections?: number;
}

export interface LocalPostgres {
  readonly url: string;
  /** `url`: given; `pglite`: served by this process. */
  readonly source: 'url' | 'pglite';
  /** Closes client connections, the server and PGlite (nothing for a given URL). */
  stop(): Promise<void>;
}

/**
 * The Postgres for local runs: `DATABASE_URL` when set, else an embedded PGlite (data kept in
 * `.batchflow/pgdata`) served over the wire protocol, so postgres.js in every worker thread talks
 * to it as to a real server.
 *
 * Several connections share PGlite's single session: prepared statements, session settings
 * (`SET`, `search_path`) and session advisory locks are common to all of them; transactions
 * run one at a time, and a transaction that waits for another connection's query never ends.
 *
 * @example
 * const pg = await ensurePostgres();
 * const sql = postgres(pg.url);
 */
export async function ensurePostgres(options: PostgresOptions = {}): Promise<LocalPostgres> {
  const given = options.url ?? process.env.DATABASE_URL;
  if (given) return { url: given, source: 'url', stop: async () => {} };
  return startPglite(options);
}

/** An embedded PGlite served on host:port (any free port when that one is taken). */
export async function startPglite(options: Omit<PostgresOptions, 'url'> = {}): Promise<LocalPostgres> {
  const dataDir = options.dataDir ?? join(localDir, 'pgdata');
  const releaseLock = lockDataDir(dataDir);
  try {
    const db = await PGlite.create(dataDir);
    const served = await serve(db, options.host ?? '127.0.0.1', options.port ?? 5433, options.maxConnections ?? 64);
    return {
      url: `postgres://postgres@${served.address}/postgres`,
      source: 'pglite',
      stop: async () => {
        await served.close();
        await db.close();
        releaseLock();
      },
    };
  } catch (err) {
    releaseLock();
    throw err;
  }
}

interface Served {
  readonly address: string;
  close(): Promise<void>;
}

/** Serves PGlite on host:port (or a free port when that one is taken). */
async function serve(db: PGlite, host: string, port: number, maxConnections: number): Promise<Served> {
  const queue = new WireQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server = createServer((socket) => void attach(socket));
  server.maxConnections = maxConnections;

  async function attach(socket: Socket): Promise<void> {
    const handler = new PGLiteSocketHandler({
      // WireQueue implements the methods the handler calls; the declared type is a class.
      queryQueue: queue as unknown as PGLiteSocketHandlerOptions['queryQueue'],
      closeOnDetach: true,
    });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener('close', forget);
    handler.addEventListener('error', forget);
    try {
      await handler.attach(socket);
    } catch {
      forget();
      socket.destroy();
    }
  }

  const bound = await listen(server, host, port).catch((err: NodeJS.ErrnoException) =>
    err.code === 'EADDRINUSE' ? listen(server, host, 0) : Promise.reject(err),
  );
  return {
    address: `${host}:${bound}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...handlers].map((h) => h.detach(true)));
      await closed;
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * PGlite has no lock of its own: two processes on one data directory corrupt it. Claims the
 * directory with a pid file, taking over one whose process is gone.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lock = `${dataDir}.lock`;
  const holder = Number.parseInt(readText(lock) ?? '', 10);
  if (holder && isAlive(holder)) {
    throw new Error(`${dataDir} is in use by process ${holder} (another local stack?)`);
  }
  writeFileSync(lock, String(process.pid));
  return () => {
    if (readText(lock) === String(process.pid)) rmSync(lock, { force: true });
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
