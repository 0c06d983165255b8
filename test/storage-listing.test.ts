/**
 * Listing past one page, against the real emulators: s3rver answers ListObjectsV2 with at most 1,000
 * keys per page and azurite lists at most 5,000 blobs per page (each service's own maximum, which
 * our listing does not lower). `archive-crypt list` must follow the continuation tokens and find
 * every archive, none twice.
 *
 * s3rver makes its continuation tokens with DES, which Node's OpenSSL 3 offers only with the legacy
 * provider: the shared s3rver (global setup) answers every truncated listing with a 500. This file
 * runs an s3rver of its own in a child process started with --openssl-legacy-provider.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { runCliInProcess } from './support/cli-in-process.js';
import { azuriteAccount, createContainer, s3AdminClient, s3Env, uniqueName } from './support/emulators.js';
import { repoRoot, tempDir } from './support/helpers.js';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';

const bucket = uniqueName('page');
const container = uniqueName('page');

/** Archive ids `00000000-0000-4000-8000-<n>`: one page's worth and a few more. */
const ids = (count: number) => Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const s3Ids = ids(1_003);
const azureIds = ids(5_003);

/** Runs `put` over `items`, `width` at a time (thousands of tiny uploads; the emulators are local). */
async function putAll<T>(items: readonly T[], width: number, put: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await put(items[next++] as T);
    }),
  );
}

const startS3rver = `
  import S3rver from 's3rver';
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[1], resetOnClose: true });
  const { port } = await server.run();
  console.log(JSON.stringify({ url: 'http://127.0.0.1:' + port }));
  process.stdin.on('end', () => void server.close().then(() => process.exit(0))).resume();
`;
let s3rver: ChildProcess | undefined;
let s3Endpoint = '';

beforeAll(async () => {
  const directory = await tempDir('archive-crypt-s3rver-');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', startS3rver, directory], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  s3rver = child;
  s3Endpoint = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const s3 = s3AdminClient(s3Endpoint);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await createContainer(container);
  // Thousands of uploads: plain PUTs with one container SAS (the SDK's pipeline per blob costs more
  // CPU than azurite's answer).
  const sas = generateBlobSASQueryParameters(
    { containerName: container, permissions: ContainerSASPermissions.parse('cw'), expiresOn: new Date(Date.now() + 3_600_000) },
    new StorageSharedKeyCredential(azuriteAccount.name, azuriteAccount.key),
  ).toString();
  const putBlob = async (name: string) => {
    const answer = await fetch(`${inject('azureBlobEndpoint')}/${container}/${name}?${sas}`, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body });
    if (answer.status !== 201) throw new Error(`azurite answered ${answer.status} to PUT ${name}`);
  };
  const body = new Uint8Array(16);
  await Promise.all([
    putAll(s3Ids, 32, async (id) => void (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `46372/${id}/archive.mp4`, Body: body })))),
    putAll(azureIds, 32, (id) => putBlob(`46372/${id}/archive.mp4`)),
  ]);
  s3.destroy();
}, 120_000);

afterAll(async () => {
  if (!s3rver || s3rver.exitCode !== null) return;
  const exited = new Promise((resolve) => s3rver?.once('exit', resolve));
  s3rver.stdin?.end();
  await exited;
});


describe.each([
  { name: 's3 (1,000 keys a page)', spec: () => `s3://${bucket}`, env: () => s3Env(s3Endpoint), expected: s3Ids },
  {
    name: 'azure (5,000 blobs a page)',
    spec: () => `azure://${container}`,
    env: () => ({ AZURE_STORAGE_CONNECTION_STRING: inject('azureConnectionString') }),
    expected: azureIds,
  },
])('list $name', ({ spec, env, expected }) => {
  test('finds every archive across the pages, each once', async () => {
    const result = await runCliInProcess(['list', spec(), '--json'], env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listing = JSON.parse(result.stdout) as { count: number; items: { id: string; size: number }[] };
    expect(listing.count).toBe(expected.length);
    expect(listing.items.map((item) => item.id).sort()).toEqual([...expected].sort());
    expect(listing.items.every((item) => item.size === 16)).toBe(true);
  });

  test('--api-key lists one project past the first page too', async () => {
    const result = await runCliInProcess(['list', spec(), '--api-key', '46372', '--json'], env());
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { count: number }).count).toBe(expected.length);
  });
});
