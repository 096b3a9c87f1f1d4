import type { TestProject } from 'vitest/node';
import { ensureAwsEndpoint } from '../../localstack/services/moto.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The AWS endpoint every integration test talks to (AWS_ENDPOINT_URL, or moto started here). */
    awsEndpoint: string;
    awsRegion: string;
    /** A real Postgres: DATABASE_URL, or the local one at 127.0.0.1:5432/test. */
    databaseUrl: string;
  }
}

/**
 * Integration tests' shared services: one AWS endpoint and one Postgres for all files. Each file
 * isolates itself with its own stage (resource names) and its own schema, so files run in parallel.
 * Also defaults the AWS credentials to test/test for the test processes, which inherit this env.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const aws = await ensureAwsEndpoint({ log: (line) => console.log(`[globalSetup] ${line}`) });
  project.provide('awsEndpoint', aws.endpoint);
  project.provide('awsRegion', aws.region);
  project.provide('databaseUrl', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  return () => aws.stop();
}
