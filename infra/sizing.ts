/**
 * How many processors the database can take. Pure arithmetic, so the stack, its tests and the
 * README's sizing section agree.
 */

/**
 * max_connections of an Aurora PostgreSQL Serverless v2 writer, estimated. Aurora derives it from
 * the memory of the *maximum* capacity (about 189 connections per ACU at the low end: 189 for a
 * 0.5–1 ACU range), and caps it at 2,000 when the minimum is below 1 ACU, 5,000 otherwise.
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html
 * The estimate errs low; `show max_connections` on the cluster gives the real figure.
 */
export function auroraMaxConnections(minCapacityAcu: number, maxCapacityAcu: number): number {
  const ceiling = minCapacityAcu < 1 ? 2000 : 5000;
  return Math.min(ceiling, Math.floor(189 * Math.max(1, maxCapacityAcu)));
}

/** A function that holds database connections: at most `concurrency × poolSize` of them. */
export interface ConnectionUser {
  readonly name: string;
  readonly concurrency: number;
}

export interface ConcurrencyCapInput {
  /** Connections batchflow may open: RDS Proxy's share of max_connections, or what a brought database allows. */
  readonly databaseConnections: number;
  /** Connections one function instance opens (DATABASE_POOL_SIZE). */
  readonly poolSize: number;
  /** The other functions' concurrency, each holding `poolSize` connections per instance. */
  readonly others: readonly ConnectionUser[];
  /** Connections kept free for migrations, the API and an operator's psql. */
  readonly headroom: number;
  /** The control law's own upper bound. */
  readonly lawMaximum: number;
}

/**
 * The highest maximum concurrency the processor's mapping may reach: the connections left once
 * every other function runs at its limit, divided by a processor's pool. Throws when the database
 * cannot hold even two processors, because then the stack would deploy a pipeline that cannot run.
 */
export function processorConcurrencyCap(input: ConcurrencyCapInput): number {
  const othersUse = input.others.reduce((sum, f) => sum + f.concurrency * input.poolSize, 0);
  const left = input.databaseConnections - othersUse - input.headroom;
  const cap = Math.min(input.lawMaximum, Math.floor(left / input.poolSize));
  if (cap < 2) {
    const users = input.others.map((f) => `${f.name} ${f.concurrency}×${input.poolSize}`).join(', ');
    throw new Error(
      `the database allows ${input.databaseConnections} connections; ${users} and ${input.headroom} headroom leave ${left}, ` +
        `room for ${Math.max(0, Math.floor(left / input.poolSize))} processor(s) of ${input.poolSize} connections: at least 2 are needed`,
    );
  }
  return cap;
}
