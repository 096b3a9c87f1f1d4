import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { answers, ensureAwsEndpoint } from '../../../../localstack/services/moto.ts';

/** A port nothing listens on (the OS picks it, we release it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('ensureAwsEndpoint', () => {
  it('starts moto where nothing answers, reuses it where it does, and stops only what it started', async () => {
    // Prepare
    vi.stubEnv('AWS_ENDPOINT_URL', undefined);
    const port = await freePort();

    // Act
    const started = await ensureAwsEndpoint({ port });
    const reused = await ensureAwsEndpoint({ port });
    await reused.stop();
    const aliveAfterReuseStopped = await answers(started.endpoint);
    await started.stop();

    // Assess
    expect(started).toMatchObject({ endpoint: `http://127.0.0.1:${port}`, source: 'started', region: 'us-east-1' });
    expect(reused.source).toBe('running');
    expect(aliveAfterReuseStopped).toBe(true);
    expect(await answers(started.endpoint)).toBe(false);
  });

  it('uses AWS_ENDPOINT_URL as it is', async () => {
    // Prepare
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://localstack.internal:4566');

    // Act
    const endpoint = await ensureAwsEndpoint();

    // Assess
    expect(endpoint).toMatchObject({ endpoint: 'http://localstack.internal:4566', source: 'env' });
  });
});
