import { afterEach, describe, expect, it, vi } from 'vitest';
import { answers, ensureAwsEndpoint } from '../../../../localstack/services/moto.ts';
import { freePort } from '../../../support/ports.ts';


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
