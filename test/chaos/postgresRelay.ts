import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type postgres from 'postgres';

/**
 * A TCP relay in front of the real Postgres, for a "restart" that touches only the pipeline under
 * test (other tests share the server, which is never restarted): `restart()` terminates exactly
 * the backends behind the relay's connections with pg_terminate_backend — clients see 57P01
 * admin_shutdown, as on a restart — and refuses new connections for a while (the port is closed:
 * ECONNREFUSED, as while the server starts up).
 */
export interface PostgresRelay {
  /** `databaseUrl` with the relay's host and port. */
  readonly url: string;
  /**
   * Terminates every backend behind the relay (through `admin`, a direct connection) and refuses
   * connections for `refuseMs`; resolves once it accepts again, with how many were terminated and
   * how many of those were inside a transaction. `inTransaction` first waits (up to 10 s) until a
   * relayed backend is inside one: a restart in the middle of a merge, the hard case.
   */
  restart(admin: postgres.Sql, options?: { readonly refuseMs?: number; readonly inTransaction?: boolean }): Promise<{ terminated: number; inTransaction: number }>;
  close(): Promise<void>;
}

/** Starts the relay on a free loopback port. */
export async function startPostgresRelay(databaseUrl: string): Promise<PostgresRelay> {
  const target = new URL(databaseUrl);
  const upstreams = new Set<Socket>();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    upstreams.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      upstreams.delete(upstream);
      client.destroy();
    });
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const { port } = server.address() as AddressInfo;
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  return {
    url: url.href,
    async restart(admin, { refuseMs = 0, inTransaction = false } = {}) {
      // pg_stat_activity.client_port of a relayed backend is the local port of our upstream socket.
      const ports = () => [...upstreams].map((s) => s.localPort).filter((p): p is number => p !== undefined);
      const deadline = Date.now() + 10_000;
      while (inTransaction && Date.now() < deadline) {
        const [busy] = await admin`
          select count(*)::int as n from pg_stat_activity
          where client_port = any(${ports()}::int[]) and xact_start is not null and pid <> pg_backend_pid()`;
        if (busy!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // Stops accepting (the callback would wait for every open connection to end).
      server.close();
      const rows = await admin`
        select pg_terminate_backend(pid) as terminated, xact_start is not null as "inTransaction" from pg_stat_activity
        where client_port = any(${ports()}::int[]) and client_addr in ('127.0.0.1', '::1') and pid <> pg_backend_pid()`;
      await new Promise((resolve) => setTimeout(resolve, refuseMs));
      await listen(port);
      const terminated = rows.filter((r) => r.terminated);
      return { terminated: terminated.length, inTransaction: terminated.filter((r) => r.inTransaction).length };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
