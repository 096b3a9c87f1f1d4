import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../../lib/adapters/aws.ts';
import { answers, motoEnvironment, motoLauncher } from '../../../../localstack/services/moto.ts';
import { projectRoot } from '../../../../localstack/paths.ts';
import { freePort } from '../../../support/ports.ts';

/**
 * The local moto (localstack/services/moto_server.py) against moto as it ships, both started here:
 * the same requests must get the same answers — status, bytes, and the headers a client reads.
 * A 1 MiB key buffer makes the larger objects spool to a file, as uploads of real size do.
 */

const venv = join(projectRoot, '.venv-moto', 'bin');
const MIB = 1024 * 1024;
const servers: ChildProcess[] = [];
let plain: S3Client;
let launched: S3Client;


/** The first line each server printed on stderr. */
const firstLine = new Map<S3Client, Promise<string>>();

async function start(command: string, args: string[]): Promise<S3Client> {
  const port = await freePort();
  const child = spawn(command, [...args, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: motoEnvironment({ ...process.env, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE: String(MIB) }),
  });
  servers.push(child);
  let stderr = '';
  const line = new Promise<string>((resolve) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('\n')) resolve(stderr.split('\n')[0]!);
    });
    child.on('exit', () => resolve(stderr));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && !(await answers(endpoint)); i++) await new Promise((r) => setTimeout(r, 100));
  const s3 = createS3Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  firstLine.set(s3, line);
  return s3;
}

const objects = {
  small: randomBytes(100_000),
  spooled: randomBytes(3 * MIB + 12_345),
  multipart: randomBytes(11 * MIB + 7),
};

async function put(s3: S3Client): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: 'ranges' }));
  await s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'small', Body: objects.small }));
  await s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'spooled', Body: objects.spooled }));
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'ranges', Key: 'multipart' }));
  const parts = [objects.multipart.subarray(0, 5 * MIB), objects.multipart.subarray(5 * MIB, 10 * MIB), objects.multipart.subarray(10 * MIB)];
  const etags = [];
  for (const [i, body] of parts.entries()) {
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'ranges', Key: 'multipart', UploadId, PartNumber: i + 1, Body: body }));
    etags.push({ ETag, PartNumber: i + 1 });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'ranges', Key: 'multipart', UploadId, MultipartUpload: { Parts: etags } }));
}

/** What a client sees of a GET: the status, the bytes and the headers that describe them, or the error. */
async function get(s3: S3Client, key: string, headers: { Range?: string; IfMatch?: string; IfNoneMatch?: string }) {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: key, ...headers }));
    const body = Buffer.from(await r.Body!.transformToByteArray());
    return {
      status: r.$metadata.httpStatusCode,
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      contentRange: r.ContentRange,
      contentLength: r.ContentLength,
      etag: r.ETag,
      acceptRanges: r.AcceptRanges,
    };
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { error: e.name, status: e.$metadata?.httpStatusCode };
  }
}

beforeAll(async () => {
  [plain, launched] = await Promise.all([start(join(venv, 'moto_server'), []), start(join(venv, 'python'), [motoLauncher])]);
  await Promise.all([put(plain), put(launched)]);
}, 120_000);

afterAll(() => {
  plain?.destroy();
  launched?.destroy();
  for (const child of servers) child.kill('SIGKILL');
});

describe('the local moto server', () => {
  it('says it serves ranges from the buffer', async () => {
    expect(await firstLine.get(launched)).toBe('moto_server.py: ranged GETs read only their range');
  });

  it('answers ranged GETs as moto does: single ranges, open and suffix ranges, ranges past the end, ranges it ignores', async () => {
    // Prepare
    const cases: { key: keyof typeof objects; range: string }[] = [];
    for (const key of Object.keys(objects) as (keyof typeof objects)[]) {
      const n = objects[key].length;
      const fixed = ['bytes=0-0', 'bytes=0-99', `bytes=${n - 1}-`, `bytes=${n - 10}-${n + 100}`, `bytes=${n}-`, `bytes=${n + 5}-${n + 9}`, 'bytes=100-50', 'bytes=-100', `bytes=-${n + 1}`, 'bytes=0-10,20-30', 'bytes=abc', `bytes=0-${n - 1}`, 'bytes=5-'];
      for (const range of fixed) cases.push({ key, range });
      for (let i = 0; i < 10; i++) {
        const a = Math.floor(Math.random() * n);
        const b = a + Math.floor(Math.random() * 2 * MIB);
        cases.push({ key, range: `bytes=${a}-${b}` });
      }
    }

    // Act
    const answered = [];
    for (const c of cases) answered.push({ ...c, plain: await get(plain, c.key, { Range: c.range }), launched: await get(launched, c.key, { Range: c.range }) });

    // Assess
    for (const a of answered) expect(a).toEqual({ ...a, launched: a.plain });
    // The cases cover every kind of answer: a range, the whole object for an ignored range, and 416.
    expect(new Set(answered.map((a) => a.plain.status))).toEqual(new Set([206, 200, 416]));
  }, 120_000);

  it('answers conditional ranged GETs as moto does', async () => {
    // Prepare
    const { etag } = (await get(plain, 'spooled', {})) as { etag: string };
    const conditions = [{ IfMatch: etag }, { IfMatch: '"0000"' }, { IfNoneMatch: etag }, { IfNoneMatch: '"0000"' }];

    // Act
    const answered = [];
    for (const condition of conditions) {
      const headers = { ...condition, Range: 'bytes=1000-2000' };
      answered.push({ condition, plain: await get(plain, 'spooled', headers), launched: await get(launched, 'spooled', headers) });
    }

    // Assess
    for (const a of answered) expect(a.launched).toEqual(a.plain);
    expect(answered.map((a) => a.plain.status)).toEqual([206, 412, 304, 206]);
  }, 60_000);

  it('serves plain moto, and says so, when this moto lacks what the launcher wraps', async () => {
    // Prepare: a moto whose S3Response has no _handle_range_header (as a release renaming it would).
    const script = [
      'import runpy, sys',
      'import moto.s3.responses as r',
      'del r.S3Response._handle_range_header',
      `sys.argv = [${JSON.stringify(motoLauncher)}] + sys.argv[1:]`,
      `runpy.run_path(${JSON.stringify(motoLauncher)}, run_name="__main__")`,
    ].join('\n');

    // Act
    const fallback = await start(join(venv, 'python'), ['-c', script]);
    await fallback.send(new CreateBucketCommand({ Bucket: 'ranges' }));
    await fallback.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'small', Body: objects.small }));
    const whole = await get(fallback, 'small', {});

    // Assess
    expect(await firstLine.get(fallback)).toBe('moto_server.py: S3Response._handle_range_header not in this moto; serving ranged GETs unchanged');
    expect(whole).toMatchObject({ status: 200, bytes: objects.small.length, sha256: createHash('sha256').update(objects.small).digest('hex') });
    fallback.destroy();
  }, 60_000);
});
