import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../paths.ts';

/**
 * The Python tools batchflow uses, installed on first use into one venv (`.venv-moto`, which
 * .ci/run fills up front): moto for the local endpoint (awsJson1_0 CloudWatch arrived in 5.1.12),
 * cfn-lint for the synthesized templates.
 */
export const pythonTools = {
  moto: { binary: 'moto_server', requirement: 'moto[server]>=5.1.14' },
  cfnLint: { binary: 'cfn-lint', requirement: 'cfn-lint>=1.58,<2' },
} as const;

export interface AwsEndpointOptions {
  /**
   * An endpoint to use as it is (LocalStack, a shared moto, ...).
   * @default process.env.AWS_ENDPOINT_URL, else a moto server on host:port
   */
  readonly endpoint?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 4566 */
  readonly port?: number;
  /** Where moto is installed on first use. @default `<root>/.venv-moto` */
  readonly venvDir?: string;
  /** How long to wait for a started moto to answer. @default 60_000 */
  readonly startTimeoutMs?: number;
  /** Progress lines (install, start). @default no output */
  readonly log?: (line: string) => void;
}

export interface AwsEndpoint {
  readonly endpoint: string;
  readonly region: string;
  /** `env`: given; `running`: something already answered there; `started`: our moto child. */
  readonly source: 'env' | 'running' | 'started';
  /** Stops the moto child if this call started it; otherwise does nothing. */
  stop(): Promise<void>;
}

/**
 * The AWS endpoint for local runs: `AWS_ENDPOINT_URL` when set, else a moto server on
 * 127.0.0.1:4566 (reused when one already answers there, else installed into `.venv-moto/` on first
 * use and started as a child process). Also defaults the SDK's credentials to test/test and the
 * region to us-east-1 in `process.env`, so every client built by `lib/adapters/aws.ts` signs.
 *
 * @example
 * const aws = await ensureAwsEndpoint({ log: console.log });
 * const s3 = createS3Client({ endpoint: aws.endpoint, region: aws.region });
 * await aws.stop();
 */
export async function ensureAwsEndpoint(options: AwsEndpointOptions = {}): Promise<AwsEndpoint> {
  const region = applyLocalCredentialDefaults();
  const given = options.endpoint ?? process.env.AWS_ENDPOINT_URL;
  if (given) return { endpoint: given, region, source: 'env', stop: async () => {} };

  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 4566;
  const endpoint = `http://${host}:${port}`;
  if (await answers(endpoint)) return { endpoint, region, source: 'running', stop: async () => {} };

  const venvDir = options.venvDir ?? join(projectRoot, '.venv-moto');
  const log = options.log ?? (() => {});
  await installMoto(venvDir, log);
  log(`starting moto server on ${endpoint}`);
  const child = spawn(join(venvDir, 'bin', 'python'), [motoLauncher, '-H', host, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: motoEnvironment() });
  // A child outlives a parent that exits without stopping it (a second Ctrl-C, a crash).
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  try {
    await waitUntilAnswering(endpoint, child, options.startTimeoutMs ?? 60_000);
  } catch (err) {
    process.off('exit', killOnExit);
    throw err;
  }
  return {
    endpoint,
    region,
    source: 'started',
    stop: async () => {
      process.off('exit', killOnExit);
      await stopChild(child);
    },
  };
}

/**
 * moto's own server with ranged GETs that read only their range (moto reads the whole object for
 * each; the file says why that matters and what it changes).
 */
export const motoLauncher = join(projectRoot, 'localstack', 'services', 'moto_server.py');

/**
 * moto keeps an object in memory up to MOTO_S3_DEFAULT_KEY_BUFFER_SIZE (5 MiB by default) and spools
 * the rest to a temporary file. Measured here, putting a 200 MB upload took 8.4 s spooled and 0.8 s
 * in memory. 512 MiB keeps the files one tests or benchmarks locally in memory; a larger upload
 * still works, at the slower pace.
 */
export function motoEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE: env.MOTO_S3_DEFAULT_KEY_BUFFER_SIZE ?? String(512 * 1024 * 1024) };
}

/** Sets test/test credentials and us-east-1 where the environment has none; returns the region. */
export function applyLocalCredentialDefaults(env: NodeJS.ProcessEnv = process.env): string {
  env.AWS_ACCESS_KEY_ID ??= 'test';
  env.AWS_SECRET_ACCESS_KEY ??= 'test';
  env.AWS_REGION ??= env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return env.AWS_REGION;
}

/** True when an HTTP server answers at `endpoint` (any status: moto, LocalStack, ...). */
export async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('/moto-api/', endpoint), { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** Returns the path of `moto_server`, creating the venv and installing moto if needed. */
function installMoto(venvDir: string, log: (line: string) => void): Promise<string> {
  return ensurePythonTool(pythonTools.moto, { venvDir, log });
}

/** Returns the path of a Python tool's executable, creating the venv and installing it if needed. */
export async function ensurePythonTool(
  tool: { readonly binary: string; readonly requirement: string },
  options: { venvDir?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const venvDir = options.venvDir ?? join(projectRoot, '.venv-moto');
  const binary = join(venvDir, 'bin', tool.binary);
  if (existsSync(binary)) return binary;
  // pip writes the executable last, so an interrupted install is simply resumed next time.
  options.log?.(`installing ${tool.requirement} into ${venvDir} (first run only)`);
  if (!existsSync(join(venvDir, 'bin', 'pip'))) await run('python3', ['-m', 'venv', venvDir]);
  await run(join(venvDir, 'bin', 'pip'), ['install', '--quiet', tool.requirement]);
  if (!existsSync(binary)) throw new Error(`${tool.requirement} installed but ${binary} is missing`);
  return binary;
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr = tail(child);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr()}`)),
    );
  });
}

async function waitUntilAnswering(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const stderr = tail(child);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = `moto server exited (${code ?? signal}): ${stderr()}`));
  child.on('error', (err) => (exited = `moto server failed to start: ${err.message}`));
  const deadline = Date.now() + timeoutMs;
  while (!(await answers(endpoint))) {
    if (exited) throw new Error(exited);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not answer at ${endpoint} within ${timeoutMs} ms: ${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Keeps the last 4 KiB of a child's stderr for error messages. */
function tail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => (text = (text + chunk.toString()).slice(-4096)));
  return () => text.trim();
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => (clearTimeout(force), resolve()));
    child.kill('SIGTERM');
  });
}
