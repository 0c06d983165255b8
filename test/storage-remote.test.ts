/**
 * The S3, Azure and https adapters against the real emulators (s3rver, azurite) started by the
 * global setup: reads, parallel ranged downloads, listing, error mapping, replaced objects, and
 * byte-identical downloads through a proxy that cuts connections and answers 500s.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { IntegrityError, StorageError } from '../src/errors.js';
import { createChecksumVerifier } from '../src/storage/checksum.js';
import { openSource, openStore, type SourceOptions } from '../src/storage/open.js';
import { HttpsSource } from '../src/storage/https.js';
import { readParallel } from '../src/storage/parallel.js';
import { resolveRetryPolicy, type RetryPolicy } from '../src/storage/retry.js';
import type { Source } from '../src/storage/source.js';
import {
  azureOptions,
  azuriteAccount,
  azuriteConnectionString,
  azuriteOrigin,
  azuriteThrough,
  blobSasUrl,
  collect,
  createBucket,
  createContainer,
  fastRetry,
  putBlob,
  putS3Object,
  s3Options,
  uniqueName,
} from './support/emulators.js';
import { faultOnFirstDownload, faultSequence, startFaultProxy, type Fault, type FaultProxy } from './support/fault-proxy.js';

const MiB = 1024 * 1024;
const big = randomBytes(5 * MiB + 12_345);
const small = randomBytes(100_000);
const bigKey = '46372/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4';
const smallKey = '46372/0c3a9d9e-0000-4000-8000-000000000001/archive.mp4';
const bucket = uniqueName('bkt');
const container = uniqueName('ctr');

/** How each provider is reached: directly, or with its endpoint replaced by a proxy's. */
interface Provider {
  name: string;
  spec(key: string): string;
  options(endpoint?: string): SourceOptions;
  put(key: string, body: Uint8Array): Promise<void>;
  /** The emulator's base URL a proxy must forward to. */
  upstream(): string;
}

const providers: Provider[] = [
  {
    name: 's3',
    spec: (key) => `s3://${bucket}/${key}`,
    options: (endpoint) => s3Options(endpoint),
    put: (key, body) => putS3Object(bucket, key, body),
    upstream: () => inject('s3Endpoint'),
  },
  {
    name: 'azure',
    spec: (key) => `azure://${container}/${key}`,
    options: (endpoint) => azureOptions(endpoint ? azuriteThrough(endpoint) : undefined),
    put: (key, body) => putBlob(container, key, body),
    upstream: azuriteOrigin,
  },
  {
    // Generic https adapter against azurite through a SAS URL (loopback http is allowed).
    name: 'https (SAS URL, generic adapter)',
    spec: (key) => blobSasUrl(container, key),
    options: () => ({ retry: fastRetry }),
    put: (key, body) => putBlob(container, key, body),
    upstream: azuriteOrigin,
  },
];

beforeAll(async () => {
  await createBucket(bucket);
  await createContainer(container);
  await Promise.all([
    putS3Object(bucket, bigKey, big),
    putS3Object(bucket, smallKey, small),
    putBlob(container, bigKey, big),
    putBlob(container, smallKey, small),
  ]);
});

/** Opens a spec; for the https provider the generic adapter is forced by loading it directly. */
async function open(provider: Provider, key: string, endpoint?: string, retry: Partial<RetryPolicy> = fastRetry): Promise<Source> {
  if (provider.name.startsWith('https')) {
    const url = blobSasUrl(container, key, endpoint ? `${endpoint}/${azuriteAccount.name}` : undefined);
    return new HttpsSource(new URL(url), resolveRetryPolicy(retry));
  }
  return openSource(provider.spec(key), { ...provider.options(endpoint), retry });
}

describe.each(providers)('$name', (provider) => {
  test('stat reports size, ETag and an MD5 the bytes match', async () => {
    const source = await open(provider, smallKey);
    const info = await source.stat();
    expect(info.size).toBe(small.length);
    expect(info.etag).toBeTruthy();
    expect(info.checksums?.md5?.length).toBe(16);
    const verifier = createChecksumVerifier(info, source.name);
    verifier.update(small);
    expect(verifier.verify()).toEqual(['md5']);
    await source.close?.();
  });

  test('reads a whole object and arbitrary ranges', async () => {
    const source = await open(provider, smallKey);
    expect((await collect(source.read())).equals(small)).toBe(true);
    for (const [start, end] of [
      [0, 1],
      [1, 2],
      [16, 4096],
      [99_999, 100_000],
      [50_000, 200_000],
    ] as const) {
      expect((await collect(source.read(start, end))).equals(small.subarray(start, end))).toBe(true);
    }
    expect((await collect(source.read(100, 100))).length).toBe(0);
    await source.close?.();
  });

  test('parallel ranged download of a multi-MiB object equals the original', async () => {
    const source = await open(provider, bigKey);
    const bytes = await collect(readParallel(source, { partSize: MiB, concurrency: 3 }));
    expect(bytes.length).toBe(big.length);
    expect(bytes.equals(big)).toBe(true);
    await source.close?.();
  });

  test('a missing object is ERR_NOT_FOUND naming it', async () => {
    const source = await open(provider, '46372/missing/archive.mp4');
    const error = await source.stat().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'ERR_NOT_FOUND', exitCode: 5 });
    expect((error as Error).message).toContain('46372/missing/archive.mp4');
    expect((error as Error).message).not.toMatch(/sig=|Signature=/);
  });

  test('a replaced object is detected mid-download, not mixed', async () => {
    const key = `46372/${uniqueName('replaced')}/archive.mp4`;
    const original = randomBytes(2 * MiB);
    await provider.put(key, original);
    const source = await open(provider, key);
    // The first part arrives, then the object is replaced before the second part is asked for.
    expect((await collect(source.read(0, MiB))).equals(original.subarray(0, MiB))).toBe(true);
    await provider.put(key, randomBytes(2 * MiB));
    const error = await collect(source.read(MiB, 2 * MiB)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'ERR_STORAGE', message: expect.stringMatching(/replaced during the download/) as unknown });
  });

  describe('through a proxy that cuts connections and answers 500', () => {
    let proxy: FaultProxy;
    afterAll(() => proxy?.close());

    test('the parallel download is still byte-identical', async () => {
      const faults: (Fault | undefined)[] = [
        { kind: 'status', status: 500 },
        { kind: 'cut', afterBytes: 200_000 },
        undefined,
        { kind: 'cut', afterBytes: 1 },
        { kind: 'status', status: 503 },
        { kind: 'cut', afterBytes: 700_000 },
        { kind: 'cut', afterBytes: 0 },
        { kind: 'status', status: 500 },
      ];
      proxy = await startFaultProxy(provider.upstream(), faultSequence(faults));
      const source = await open(provider, bigKey, proxy.url);
      const info = await source.stat();
      const verifier = createChecksumVerifier(info, source.name);
      const bytes: Uint8Array[] = [];
      for await (const chunk of readParallel(source, { partSize: 2 * MiB, concurrency: 2 })) {
        verifier.update(chunk);
        bytes.push(chunk);
      }
      expect(Buffer.concat(bytes).equals(big)).toBe(true);
      expect(verifier.verify()).toEqual(['md5']);
      expect(proxy.injected.cut).toBeGreaterThanOrEqual(2);
      expect(proxy.injected.status).toBeGreaterThanOrEqual(3);
      await source.close?.();
    });
  });

  test('a stalled body is abandoned after the idle timeout and resumed', async () => {
    const proxy = await startFaultProxy(provider.upstream(), faultOnFirstDownload({ kind: 'stall', afterBytes: 300_000 }));
    try {
      const source = await open(provider, bigKey, proxy.url, { ...fastRetry, idleTimeoutMs: 300 });
      const bytes = await collect(source.read());
      expect(bytes.equals(big)).toBe(true);
      expect(proxy.injected.stall).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  test('persistent 500s end in "gave up after N attempts" (ERR_STORAGE)', async () => {
    const proxy = await startFaultProxy(provider.upstream(), ({ method }) => (method === 'GET' || method === 'HEAD' ? { kind: 'status', status: 500 } : undefined));
    try {
      const source = await open(provider, smallKey, proxy.url);
      const error = await collect(source.read()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ code: 'ERR_STORAGE' });
      expect((error as Error).message).toMatch(/gave up after 7 attempts/);
    } finally {
      await proxy.close();
    }
  });
});

test('a plain loopback URL goes to the generic adapter (anonymous GET from s3rver), parallel and whole', async () => {
  const source = await openSource(`${inject('s3Endpoint')}/${bucket}/${bigKey}`, { retry: fastRetry });
  expect(source).toBeInstanceOf(HttpsSource);
  expect(source.name).toBe(`${inject('s3Endpoint')}/${bucket}/${bigKey}`);
  expect((await source.stat()).size).toBe(big.length);
  expect((await collect(readParallel(source, { partSize: MiB, concurrency: 4 }))).equals(big)).toBe(true);
  expect((await collect(source.read(1, 2))).equals(big.subarray(1, 2))).toBe(true);
});

describe('credentials and endpoints', () => {
  test('s3: an unknown access key is ERR_ACCESS_DENIED', async () => {
    const source = await openSource(`s3://${bucket}/${smallKey}`, s3Options(undefined, { accessKeyId: 'NOBODY', secretAccessKey: 'wrong' }));
    await expect(source.stat()).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED', message: expect.stringMatching(/access denied.*AWS credentials/) as unknown });
  });

  test('s3: a missing bucket is ERR_NOT_FOUND', async () => {
    const store = await openStore('s3://no-such-bucket-here', s3Options());
    await expect(collect(mapKeys(store.list()))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/bucket not found/) as unknown });
  });

  test('azure: a wrong account key is ERR_ACCESS_DENIED', async () => {
    const wrongKey = Buffer.alloc(64, 1).toString('base64');
    const source = await openSource(`azure://${container}/${smallKey}`, azureOptions(azuriteConnectionString(inject('azureBlobEndpoint'), wrongKey)));
    await expect(source.stat()).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED' });
  });

  test('azure: a missing container is ERR_NOT_FOUND', async () => {
    const source = await openSource(`azure://no-such-container/${smallKey}`, azureOptions());
    await expect(source.stat()).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/container not found/) as unknown });
  });

  test('azure: no connection string is ERR_ACCESS_DENIED naming the variable', async () => {
    await expect(openSource(`azure://${container}/${smallKey}`, { env: {}, azure: { connectionStringEnv: 'MY_AZURE_CS' } })).rejects.toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: expect.stringContaining('MY_AZURE_CS') as unknown,
    });
  });

  test('https: a tampered SAS signature is ERR_ACCESS_DENIED and the message holds no SAS', async () => {
    const url = blobSasUrl(container, smallKey).replace(/sig=[^&]+/, 'sig=AAAA');
    const source = await openSource(url, { retry: fastRetry });
    const error = await source.stat().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_ACCESS_DENIED' });
    expect((error as Error).message).not.toContain('sig=');
  });

  test.each([
    ['s3', (port: number) => openSource(`s3://${bucket}/${smallKey}`, { ...s3Options(`http://127.0.0.1:${port}`), retry: { ...fastRetry, retries: 1 } })],
    ['azure', (port: number) => openSource(`azure://${container}/${smallKey}`, { ...azureOptions(azuriteConnectionString(`http://127.0.0.1:${port}/devstoreaccount1`)), retry: { ...fastRetry, retries: 1 } })],
    ['https', (port: number) => openSource(`http://127.0.0.1:${port}/x/archive.mp4`, { retry: { ...fastRetry, retries: 1 } })],
  ])('%s: an unreachable endpoint is ERR_STORAGE "cannot reach"', async (_name, openAt) => {
    const source = await openAt(await closedPort());
    await expect(source.stat()).rejects.toMatchObject({ code: 'ERR_STORAGE', message: expect.stringMatching(/cannot reach.*ECONNREFUSED.*gave up after 2 attempts/) as unknown });
  });

  test('the checksum verifier names the algorithm on a mismatch and catches short reads', async () => {
    const source = await openSource(`s3://${bucket}/${smallKey}`, s3Options());
    const info = await source.stat();
    const flipped = Buffer.from(small);
    flipped[500] = (flipped[500] ?? 0) ^ 1;
    const corrupt = createChecksumVerifier(info, source.name);
    corrupt.update(flipped);
    expect(() => corrupt.verify()).toThrow(IntegrityError);
    expect(() => corrupt.verify()).toThrow(/md5 checksum does not match/);
    const short = createChecksumVerifier(info, source.name);
    short.update(small.subarray(1));
    expect(() => short.verify()).toThrow(/received 99999 bytes/);
  });
});

describe('listing', () => {
  const listBucket = uniqueName('lst');
  const listContainer = uniqueName('lst');
  const keys = ['111/aaaa/archive.mp4', '111/bbbb/archive.mp4', '222/cccc/archive.mp4', 'other/readme.txt'];

  beforeAll(async () => {
    await createBucket(listBucket);
    await createContainer(listContainer);
    await Promise.all(keys.flatMap((key, i) => [putS3Object(listBucket, key, randomBytes(i + 1)), putBlob(listContainer, key, randomBytes(i + 1))]));
  });

  test.each([
    ['s3', () => `s3://${listBucket}`, () => s3Options()],
    ['azure', () => `azure://${listContainer}`, () => azureOptions()],
  ])('%s: lists every object with size, or those under a prefix', async (_name, spec, options) => {
    const store = await openStore(spec(), options());
    const all = await collect(mapKeys(store.list()));
    expect(all.toString().split('\n').filter(Boolean).sort()).toEqual(keys.map((key, i) => `${key} ${i + 1}`).sort());
    const under = await collect(mapKeys(store.list('111/')));
    expect(under.toString().split('\n').filter(Boolean).sort()).toEqual(['111/aaaa/archive.mp4 1', '111/bbbb/archive.mp4 2']);
    const narrowed = await openStore(`${spec()}/222/`, options());
    expect((await collect(mapKeys(narrowed.list()))).toString()).toBe('222/cccc/archive.mp4 3\n');
    const listedSource = store.object('222/cccc/archive.mp4');
    expect((await listedSource.stat()).size).toBe(3);
    await store.close?.();
  });
});

/** Renders listed objects as "key size" lines, to compare as text. */
async function* mapKeys(objects: AsyncIterable<{ key: string; size: number }>): AsyncIterable<Uint8Array> {
  for await (const { key, size } of objects) yield Buffer.from(`${key} ${size}\n`);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
