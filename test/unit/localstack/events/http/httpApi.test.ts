import { describe, expect, it } from 'vitest';
import { isLoopbackHost, toEvent } from '../../../../../localstack/events/http/httpApi.ts';

describe('toEvent', () => {
  it('turns a request into an HTTP API payload 2.0 event as API Gateway does, repeated parameters joined by commas', () => {
    // Prepare
    const request = { url: '/analytics/jobs/daily/results?from=2024-01-01&to=2024-02-01&tag=a&tag=b', method: 'GET', headers: { host: '127.0.0.1:4567', 'user-agent': 'curl/8' } };

    // Act
    const event = toEvent(request);

    // Assess
    expect(event).toMatchObject({
      version: '2.0',
      rawPath: '/analytics/jobs/daily/results',
      rawQueryString: 'from=2024-01-01&to=2024-02-01&tag=a&tag=b',
      queryStringParameters: { from: '2024-01-01', to: '2024-02-01', tag: 'a,b' },
      pathParameters: { proxy: 'analytics/jobs/daily/results' },
      requestContext: { http: { method: 'GET', path: '/analytics/jobs/daily/results', userAgent: 'curl/8' }, stage: '$default' },
    });
  });

  it('leaves queryStringParameters out when there is no query, as API Gateway does', () => {
    // Act
    const event = toEvent({ url: '/jobs', method: 'GET', headers: {} });

    // Assess
    expect(event.queryStringParameters).toBeUndefined();
    expect(event.rawQueryString).toBe('');
  });
});

describe('isLoopbackHost', () => {
  it('accepts the loopback names, with or without a port, in any case', () => {
    // Prepare: written out by hand, not generated from the pattern under test.
    const loopback = ['localhost', 'localhost:4567', 'LOCALHOST:80', '127.0.0.1', '127.0.0.1:4567', '[::1]', '[::1]:4567'];

    // Act
    const accepted = loopback.filter((host) => isLoopbackHost(host));

    // Assess
    expect(accepted).toEqual(loopback);
  });

  it('refuses every other Host: names a rebinding page would send, look-alikes, other loopback spellings and none', () => {
    // Prepare
    const others = [
      'evil.example',
      'evil.example:4567',
      'localhost.evil.example',
      'evil-localhost',
      '127.0.0.1.nip.io',
      '127.0.0.2',
      '127.1',
      '0.0.0.0',
      '::1',
      '[::1',
      'localhost:',
      'localhost:abc',
      'localhost:4567:1',
      'localhost.',
      ' localhost',
      '',
      undefined,
    ];

    // Act
    const accepted = others.filter((host) => isLoopbackHost(host));

    // Assess
    expect(accepted).toEqual([]);
  });
});
