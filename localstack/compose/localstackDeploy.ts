/**
 * The steps of `npm run localstack:deploy` that talk to LocalStack before cdklocal does: wait for
 * it, and put the database secret the stack's functions read. Kept apart from the CLI
 * (deploy.ts) so they are tested against a real endpoint (moto) here, where LocalStack cannot run.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  RestoreSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

/** A problem the user can fix: printed without a stack trace. */
export class DeployError extends Error {}

/** What LocalStack's `/_localstack/health` reports. */
export interface Health {
  readonly services: Record<string, string>;
  readonly edition?: string;
  readonly version?: string;
}

/** The name of the secret for the compose Postgres. */
export const SECRET_NAME = 'batchflow/localstack-database';

/**
 * Polls LocalStack's health endpoint until it answers (the container takes seconds to start).
 * `hint` is how to start it, repeated in the error.
 */
export async function waitForLocalStack(
  endpointUrl: string,
  timeoutMs: number,
  options: { hint: string; log?: (line: string) => void },
): Promise<Health> {
  const url = `${endpointUrl}/_localstack/health`;
  const deadline = Date.now() + timeoutMs;
  let problem = 'nothing answered';
  let announced = false;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const body = (await response.json().catch(() => undefined)) as Partial<Health> | undefined;
      if (response.ok && body && typeof body.services === 'object' && body.services !== null) return body as Health;
      // moto (`npm run local`) listens on the same port and has no such endpoint.
      problem = `something answered (HTTP ${response.status}) but not LocalStack's health report: is \`npm run local\` running on that port?`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      problem = `nothing answered (${cause ?? (err as Error).message})`;
    }
    if (Date.now() >= deadline) {
      throw new DeployError(`LocalStack is not running at ${url}: ${problem}\nStart it with \`${options.hint}\` (needs Docker and LOCALSTACK_AUTH_TOKEN; see localstack/compose/README.md), or set AWS_ENDPOINT_URL to where it runs.`);
    }
    if (!announced) options.log?.(`waiting up to ${timeoutMs / 1000} s for LocalStack at ${url} ...`);
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/**
 * Creates or updates the RDS-format secret the functions read (DATABASE_SECRET_ARN) and returns its
 * complete ARN, `-XXXXXX` suffix included: the stack refuses a partial one. A secret deleted
 * earlier in the same LocalStack is only scheduled for deletion, so it is restored.
 */
export async function putDatabaseSecret(client: SecretsManagerClient, name: string, value: Record<string, string | number>): Promise<string> {
  const SecretString = JSON.stringify(value);
  const existing = await client
    .send(new DescribeSecretCommand({ SecretId: name }))
    .catch((err: unknown) => (err instanceof ResourceNotFoundException ? undefined : Promise.reject(err)));
  if (!existing) {
    const created = await client.send(new CreateSecretCommand({ Name: name, SecretString, Description: 'batchflow on LocalStack: the compose Postgres (local only)' }));
    return created.ARN!;
  }
  if (existing.DeletedDate) await client.send(new RestoreSecretCommand({ SecretId: name }));
  await client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
  return existing.ARN!;
}
