import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../config.ts';
import { connectDb, type Db } from '../store/db.ts';

/**
 * Opens the database a function uses: from DATABASE_URL, or on AWS from the Secrets Manager secret
 * RDS maintains ({host, port, username, password, dbname}), read once per cold start and never
 * logged.
 */
export async function openDatabase(config: Config): Promise<Db> {
  const url = config.databaseUrl ?? (await urlFromSecret(config.databaseSecretArn!));
  return connectDb({ url, schema: config.databaseSchema, max: config.databasePoolSize });
}

async function urlFromSecret(secretArn: string): Promise<string> {
  const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  const s = JSON.parse(out.SecretString ?? '{}') as { host?: string; port?: number; username?: string; password?: string; dbname?: string };
  if (!s.host || !s.username) throw new Error(`secret ${secretArn} lacks host or username`);
  const auth = `${encodeURIComponent(s.username)}${s.password ? `:${encodeURIComponent(s.password)}` : ''}`;
  // RDS Proxy and Aurora require TLS.
  return `postgres://${auth}@${s.host}:${s.port ?? 5432}/${encodeURIComponent(s.dbname ?? 'postgres')}?sslmode=require`;
}
