import type { PGlite } from '@electric-sql/pglite';

/**
 * Serialises the wire-protocol messages of many client connections onto PGlite's single backend
 * session, one connection's *turn* at a time: a turn lasts from a connection's first message until
 * the backend answers ReadyForQuery with status idle ('I'). So an extended-protocol exchange
 * (Parse/Bind/Execute/Sync) and an explicit transaction each run without another connection's
 * messages in between.
 *
 * Why not pglite-socket's own queue (0.2.17): it pins a connection only while
 * `db.isInTransaction()`, which is false between a Bind and its Execute, so two postgres.js
 * connections clobber each other's unnamed portal ("portal \"\" does not exist", measured with 24
 * concurrent connections), and one thrown query leaves its queue stuck for good.
 * https://github.com/electric-sql/pglite/issues/1046
 *
 * It implements the three methods PGLiteSocketHandler calls on its `queryQueue`.
 */
export class WireQueue {
  readonly #db: PGlite;
  #pending: Job[] = [];
  /** The handler whose turn it is, or null when the backend is idle. */
  #owner: number | null = null;
  #draining = false;

  constructor(db: PGlite) {
    this.#db = db;
  }

  /** Runs one frontend message in its connection's turn; resolves with the bytes answered. */
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ handlerId, message, onData, resolve, reject });
      void this.#drain();
    });
  }

  /** Drops a disconnected handler's queued messages. */
  clearQueueForHandler(handlerId: number): void {
    this.#pending = this.#pending.filter((job) => {
      if (job.handlerId !== handlerId) return true;
      job.reject(new Error('connection closed'));
      return false;
    });
  }

  /** Ends a disconnected handler's turn: closes its unfinished exchange and rolls back its transaction. */
  clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return Promise.resolve();
    return new Promise((resolve) => {
      this.#pending.unshift({ handlerId, release: true, message: SYNC, onData: () => {}, resolve: () => resolve(), reject: () => resolve() });
      void this.#drain();
    });
  }

  /** Number of messages waiting. */
  get length(): number {
    return this.#pending.length;
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let job = this.#next(); job; job = this.#next()) await this.#run(job);
    } finally {
      this.#draining = false;
    }
  }

  #next(): Job | undefined {
    const i = this.#owner === null ? 0 : this.#pending.findIndex((j) => j.handlerId === this.#owner);
    return i < 0 ? undefined : this.#pending.splice(i, 1)[0];
  }

  async #run(job: Job): Promise<void> {
    this.#owner = job.handlerId;
    let bytes = 0;
    let tail: Uint8Array = new Uint8Array(0);
    try {
      await this.#db.runExclusive(() =>
        this.#db.execProtocolRawStream(job.message, {
          onRawData: (data) => {
            bytes += data.length;
            tail = lastBytes(tail, data, 6);
            job.onData(data);
          },
        }),
      );
      if (job.release && this.#db.isInTransaction()) await this.#db.exec('ROLLBACK');
      job.resolve(bytes);
    } catch (err) {
      job.reject(err);
    }
    if (job.release || isIdleReadyForQuery(tail)) this.#owner = null;
  }
}

interface Job {
  readonly handlerId: number;
  readonly message: Uint8Array;
  readonly onData: (data: Uint8Array) => void;
  readonly resolve: (bytes: number) => void;
  readonly reject: (err: unknown) => void;
  /** Sent on behalf of a client that left mid-turn. */
  readonly release?: boolean;
}

/** The Sync message: ends an extended-protocol exchange (and its implicit transaction). */
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** ReadyForQuery ('Z', length 5) with transaction status idle ('I'): the end of a turn. */
function isIdleReadyForQuery(tail: Uint8Array): boolean {
  return tail.length === 6 && tail[0] === 0x5a && tail[1] === 0 && tail[2] === 0 && tail[3] === 0 && tail[4] === 5 && tail[5] === 0x49;
}

function lastBytes(previous: Uint8Array, data: Uint8Array, n: number): Uint8Array {
  if (data.length >= n) return data.slice(data.length - n);
  const joined = new Uint8Array(previous.length + data.length);
  joined.set(previous);
  joined.set(data, previous.length);
  return joined.slice(Math.max(0, joined.length - n));
}
