/**
 * Listing past one page, against the real emulators: s3rver answers ListObjectsV2 with at most 1,000
 * keys per page (the service's maximum, which our listing does not lower unless --page-size asks)
 * and azurite with at most --page-size blobs. `archive-crypt list` must follow the continuation
 * tokens and find every archive, none twice; a recording proxy in front of the emulator counts the
 * listing requests and the page size each asked for.
 *
 * s3rver makes its continuation tokens with DES, which Node's OpenSSL 3 offers only with the legacy
 * provider: the shared s3rver (global setup) answers every truncated listing with a 500. This file
 * runs an s3rver of its own in a child process started with --openssl-legacy-provider.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { runCliInProcess } from './support/cli-in-process.js';
import { azuriteAccount, azuriteOrigin, azuriteThrough, createContainer, s3AdminClient, s3Env, uniqueName } from './support/emulators.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './support/fault-proxy.js';
import { repoRoot, tempDir } from './support/helpers.js';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';

const bucket = uniqueName('page');
const container = uniqueName('page');

/** Archive ids `00000000-0000-4000-8000-<n>`: one S3 page's worth (1,000) and a few more. */
const ids = (count: number) => Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const s3Ids = ids(1_003);
// Azure gives 5,000 blobs a page; azurite's in-memory store takes each PUT more slowly the more it
// holds (1,000 PUTs 3.4 s, 5,000 PUTs 55 s), so its pages are crossed with --page-size 1000.
const azureIds = ids(1_003);

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

/** Lists `spec` through a proxy that records every request; returns the CLI's result and the listing requests. */
async function listThroughProxy(target: string, args: (proxyUrl: string) => { argv: string[]; env: NodeJS.ProcessEnv }) {
  const requests: ProxiedRequest[] = [];
  const proxy: FaultProxy = await startFaultProxy(target, (request) => void requests.push(request));
  try {
    const { argv, env } = args(proxy.url);
    const result = await runCliInProcess(argv, env);
    const listings = requests.map((r) => new URL(r.url, 'http://x').searchParams).filter((q) => q.get('list-type') === '2' || q.get('comp') === 'list');
    return { result, pageSizes: listings.map((q) => q.get('max-keys') ?? q.get('maxresults')) };
  } finally {
    await proxy.close();
  }
}

afterAll(async () => {
  if (!s3rver || s3rver.exitCode !== null) return;
  const exited = new Promise((resolve) => s3rver?.once('exit', resolve));
  s3rver.stdin?.end();
  await exited;
});


describe.each([
  { name: 's3 (1,000 keys a page: its default)', target: () => s3Endpoint, spec: () => `s3://${bucket}`, pageSize: [], env: s3Env, expected: s3Ids, pages: [null, null] },
  {
    name: 's3 (--page-size 250)',
    target: () => s3Endpoint,
    spec: () => `s3://${bucket}`,
    pageSize: ['--page-size', '250'],
    env: s3Env,
    expected: s3Ids,
    pages: ['250', '250', '250', '250', '250'],
  },
  {
    name: 'azure (--page-size 1000)',
    target: azuriteOrigin,
    spec: () => `azure://${container}`,
    pageSize: ['--page-size', '1000'],
    env: (proxyUrl: string) => ({ AZURE_STORAGE_CONNECTION_STRING: azuriteThrough(proxyUrl) }),
    expected: azureIds,
    pages: ['1000', '1000'],
  },
])('list $name', ({ target, spec, pageSize, env, expected, pages }) => {
  test('finds every archive across the pages, each once', async () => {
    const { result, pageSizes } = await listThroughProxy(target(), (url) => ({ argv: ['list', spec(), ...pageSize, '--json'], env: env(url) }));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(pageSizes).toEqual(pages);
    const listing = JSON.parse(result.stdout) as { count: number; items: { id: string; size: number }[] };
    expect(listing.count).toBe(expected.length);
    expect(listing.items.map((item) => item.id).sort()).toEqual([...expected].sort());
    expect(listing.items.every((item) => item.size === 16)).toBe(true);
  });

  test('--api-key lists one project past the first page too', async () => {
    const { result, pageSizes } = await listThroughProxy(target(), (url) => ({ argv: ['list', spec(), ...pageSize, '--api-key', '46372', '--json'], env: env(url) }));
    expect(result.code).toBe(0);
    expect(pageSizes).toEqual(pages);
    expect((JSON.parse(result.stdout) as { count: number }).count).toBe(expected.length);
  });
});
