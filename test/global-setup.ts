/**
 * Vitest global setup: starts the real storage emulators on loopback ports for the whole suite and
 * publishes their endpoints to the tests through `provide`:
 * - s3rver (S3) in-process, with its own temporary directory, wiped on close;
 * - azurite-blob (Azure Blob Storage) as a child process, in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './support/ports.js';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { startRedis } from './support/redis.js';
import type { TestProject } from 'vitest/node';

/** s3rver's well-known credentials: it accepts these and rejects any other key. */
export const s3Credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
/** Azurite's well-known development account. */
export const azuriteAccount = {
  name: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
} as const;

declare module 'vitest' {
  export interface ProvidedContext {
    /** e.g. `http://127.0.0.1:41234` (path-style S3, s3rver). */
    s3Endpoint: string;
    /** e.g. `http://127.0.0.1:41235/devstoreaccount1` (azurite blob service). */
    azureBlobEndpoint: string;
    /** Connection string for azurite's development account. */
    azureConnectionString: string;
    /** e.g. `redis://127.0.0.1:41236` (Debian's redis-server, persistence off). */
    redisUrl: string;
  }
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Test workers import the AWS SDK too; its Node-version notice is noise in the test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3Directory = await mkdtemp(join(tmpdir(), 'archive-crypt-s3rver-'));
  const azuriteDirectory = await mkdtemp(join(tmpdir(), 'archive-crypt-azurite-'));
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, resetOnClose: true, directory: s3Directory });
  // Started side by side: azurite alone takes seconds to boot, and no test runs before all three are up.
  const [s3Started, azuriteStarted, redisStarted] = await Promise.allSettled([s3.run(), startAzurite(azuriteDirectory), startRedis()]);
  if (s3Started.status === 'rejected' || azuriteStarted.status === 'rejected' || redisStarted.status === 'rejected') {
    if (azuriteStarted.status === 'fulfilled') azuriteStarted.value.child.kill('SIGTERM');
    if (redisStarted.status === 'fulfilled') await redisStarted.value.close();
    if (s3Started.status === 'fulfilled') await s3.close();
    await rm(s3Directory, { recursive: true, force: true });
    await rm(azuriteDirectory, { recursive: true, force: true });
    throw [s3Started, azuriteStarted, redisStarted].find((started) => started.status === 'rejected')?.reason;
  }
  const { port: s3Port } = s3Started.value;
  const azurite = azuriteStarted.value;
  const redis = redisStarted.value;
  project.provide('redisUrl', redis.url);

  const azureBlobEndpoint = `http://127.0.0.1:${azurite.port}/${azuriteAccount.name}`;
  project.provide('s3Endpoint', `http://127.0.0.1:${s3Port}`);
  project.provide('azureBlobEndpoint', azureBlobEndpoint);
  project.provide(
    'azureConnectionString',
    `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount.name};AccountKey=${azuriteAccount.key};BlobEndpoint=${azureBlobEndpoint};`,
  );

  return async () => {
    azurite.child.kill('SIGTERM');
    await redis.close();
    await s3.close();
    await rm(s3Directory, { recursive: true, force: true });
    await rm(azuriteDirectory, { recursive: true, force: true });
  };
}

async function startAzurite(workDirectory: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(
    join(repoRoot, 'node_modules', '.bin', 'azurite-blob'),
    [
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--silent',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
    ],
    // Its cwd is a private temporary folder, in case it writes anything despite running in memory.
    { cwd: workDirectory, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`azurite-blob exited with ${code}: ${stderr}`))),
  );
  await Promise.race([waitForPort(port, 30_000, 'azurite'), exited]);
  return { child, port };
}


