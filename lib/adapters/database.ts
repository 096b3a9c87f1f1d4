import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../config.ts';
import { connectDb, type Db } from '../store/db.ts';

/**
 * Opens the database a function uses: from DATABASE_URL, or on AWS from the Secrets Manager secret
 * RDS maintains ({host, port, username, password, dbname}), read once per cold start and never
 * logged.
 */
export async function openDatabase(config: Config): Promise<Db> {
  const url = config.databaseUrl ?? (await urlFromSecret(config));
  return connectDb({ url, schema: config.databaseSchema, max: config.databasePoolSize });
}

async function urlFromSecret(config: Config): Promise<string> {
  const secretArn = config.databaseSecretArn!;
  const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  return databaseUrlFromSecret(secretArn, out.SecretString, { host: config.databaseHost, ssl: config.databaseSsl });
}

/**
 * The connection URL from an RDS-format secret. `host` replaces the secret's (the RDS Proxy
 * endpoint); `ssl` is `require` on AWS, where RDS Proxy refuses plain connections.
 */
export function databaseUrlFromSecret(
  secretArn: string,
  secretString: string | undefined,
  options: { host?: string | undefined; ssl: 'require' | 'disable' },
): string {
  let s: { host?: string; port?: number; username?: string; password?: string; dbname?: string };
  try {
    s = JSON.parse(secretString ?? '{}');
  } catch {
    throw new Error(`secret ${secretArn} is not JSON in the RDS format ({host, port, username, password, dbname})`);
  }
  const host = options.host ?? s.host;
  if (!host || !s.username) throw new Error(`secret ${secretArn} lacks ${host ? 'username' : 'host'}`);
  const auth = `${encodeURIComponent(s.username)}${s.password ? `:${encodeURIComponent(s.password)}` : ''}`;
  return `postgres://${auth}@${host}:${s.port ?? 5432}/${encodeURIComponent(s.dbname ?? 'postgres')}?sslmode=${options.ssl}`;
}
