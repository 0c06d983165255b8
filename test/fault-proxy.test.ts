/**
 * Fault class: the store (or the network in front of it) lies or fails. A loopback proxy in front of
 * s3rver and azurite (and azurite again as a plain https-style SAS URL) injects each fault into the
 * real, signed answers; `decrypt` (and `unseal` for the sealed format's MAC) runs in process and must
 * end with the documented exit code, exactly one stderr line without a stack trace, and nothing in
 * the output folder (docs/RELIABILITY.md).
 */
import { readFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import {
  azuriteOrigin,
  azuriteThrough,
  blobSasUrl,
  createBucket,
  createContainer,
  putBlob,
  putS3Object,
  s3Credentials,
  s3Env,
  uniqueName,
} from './support/emulators.js';
import {
  faultOnEveryDownload,
  faultOnFirstDownload,
  faultOnLaterParts,
  startFaultProxy,
  type Fault,
  type FaultPlan,
} from './support/fault-proxy.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

const bucket = uniqueName('fault-proxy');
const container = uniqueName('fault-proxy');
const archiveKey = `123456/${fx.archiveId}/archive.mp4`;
const truncatedKey = `123456/truncated/archive.mp4`;
const sealedKey = 'sealed/archive.sealed';
let dir: string;
let key: string;
let archive: Buffer;
let sealed: Buffer;
const savedEnv = { ...process.env };

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-proxy-');
  key = await privateKeyCopy(dir);
  archive = await readFile(fx.archive);
  // In process, the AWS SDK's credential chain reads the real process environment.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3Credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3Credentials.secretAccessKey });
  const seal = await runCliInProcess(['seal', fx.archive, '--to', fx.certPem, '--output', '-', '--segment-log2', '12', '--quiet']);
  expect(seal.code).toBe(0);
  sealed = seal.stdoutBytes;
  // An upload that stopped at a block boundary: the store vouches for exactly these bytes.
  const truncated = archive.subarray(0, archive.length - 4096);
  await createBucket(bucket);
  await createContainer(container);
  await Promise.all(
    [archiveKey, truncatedKey, sealedKey].flatMap((name) => {
      const body = name === truncatedKey ? truncated : name === sealedKey ? sealed : archive;
      return [putS3Object(bucket, name, body), putBlob(container, name, body)];
    }),
  );
});

afterAll(() => {
  process.env = savedEnv;
});

/** How each store is reached through a proxy at `proxyUrl` (azurite's account path included). */
const stores = [
  {
    store: 's3',
    target: () => inject('s3Endpoint'),
    spec: (name: string) => `s3://${bucket}/${name}`,
    env: (proxyUrl: string) => s3Env(proxyUrl),
  },
  {
    store: 'azure',
    target: azuriteOrigin,
    spec: (name: string) => `azure://${container}/${name}`,
    env: (proxyUrl: string) => ({ AZURE_STORAGE_CONNECTION_STRING: azuriteThrough(proxyUrl) }),
  },
  {
    // A SAS URL without azurite's account path is a plain https source (fetch, not the Azure SDK);
    // the proxy puts the account path back.
    store: 'https',
    target: () => inject('azureBlobEndpoint'),
    spec: (name: string, proxyUrl = '') => blobSasUrl(container, name, proxyUrl),
    env: (): NodeJS.ProcessEnv => ({}),
  },
];

interface Row {
  fault: string;
  plan: () => FaultPlan;
  code: number;
  message: RegExp;
  /** The kind of fault injected and how many times at least (a retried fault shows up twice). */
  injected: [Fault['kind'], number];
  object?: string;
  /** The rows about stalls watch a 1 s window; the others a wider one, so a loaded machine cannot turn their fault into a stall. */
  stallTimeout?: string;
}

/**
 * `--retries 1` keeps the retried rows fast: a transient fault is asked once more, then gives up.
 * `--part-size 64KiB` splits the 67 KiB fixture into two ranged GETs, so the second starts mid-object.
 */
const rows: Row[] = [
  { fault: 'cut', plan: () => faultOnEveryDownload({ kind: 'cut', afterBytes: 0 }), code: 5, message: /connection (failed|dropped).*gave up after 2 attempts/, injected: ['cut', 2] },
  { fault: 'stall', plan: () => faultOnFirstDownload({ kind: 'stall', afterBytes: 1000 }), code: 5, message: /the transfer stalled/, injected: ['stall', 1], stallTimeout: '1s' },
  { fault: 'drip', plan: () => faultOnEveryDownload({ kind: 'drip', bytes: 16, everyMs: 50 }), code: 5, message: /the transfer stalled .*--stall-timeout/, injected: ['drip', 1], stallTimeout: '1s' },
  { fault: '403', plan: () => faultOnEveryDownload({ kind: 'status', status: 403 }), code: 5, message: /access denied \(403/, injected: ['status', 1] },
  { fault: '404', plan: () => faultOnEveryDownload({ kind: 'status', status: 404 }), code: 5, message: /not found; check/, injected: ['status', 1] },
  { fault: '500', plan: () => faultOnEveryDownload({ kind: 'status', status: 500 }), code: 5, message: /answered 500.*gave up after 2 attempts/, injected: ['status', 2] },
  { fault: '503', plan: () => faultOnEveryDownload({ kind: 'status', status: 503 }), code: 5, message: /answered 503.*gave up after 2 attempts/, injected: ['status', 2] },
  { fault: 'range ignored', plan: () => faultOnLaterParts({ kind: 'whole', body: archive }), code: 5, message: /ignored the Range header/, injected: ['whole', 1] },
  { fault: 'ETag changed mid-download', plan: () => faultOnLaterParts({ kind: 'etag', etag: '"0123456789abcdef0123456789abcdef"' }), code: 5, message: /replaced during the download/, injected: ['etag', 1] },
  { fault: 'body replaced under the same ETag', plan: () => faultOnFirstDownload({ kind: 'flip', atByte: 20_000 }), code: 4, message: /md5/i, injected: ['flip', 1] },
  { fault: 'truncated answers', plan: () => faultOnEveryDownload({ kind: 'truncate', afterBytes: 0 }), code: 5, message: /(ended \d+ bytes early|could not be read).*gave up after 2 attempts/, injected: ['truncate', 2] },
  { fault: 'a truncated object', plan: () => () => undefined, code: 4, message: /padding|truncat|length/i, injected: ['cut', 0], object: truncatedKey },
];

describe.each(stores)('decrypt through a lying $store', (store) => {
  it.each(rows)('$fault: exit $code, one line, nothing left', async (row) => {
    const proxy = await startFaultProxy(store.target(), row.plan());
    try {
      const work = join(dir, `${store.store}-${row.fault.replace(/\W+/g, '-')}`);
      await mkdir(work);
      const result = await runCliInProcess(
        [
          'decrypt', store.spec(row.object ?? archiveKey, proxy.url), '--key', key, ...passArgs, '--password-file', fx.passwordFile,
          '--no-mpegts-check', '--part-size', '64KiB', '--retries', '1', '--stall-timeout', row.stallTimeout ?? '10s', '--output', join(work, 'out.ts'),
        ],
        { ...passEnv, ...store.env(proxy.url) },
      );
      expect(result.stderr).toMatch(/^archive-crypt: [^\n]+\n$/);
      expect(result.stderr).toMatch(row.message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.code).toBe(row.code);
      expect(proxy.injected[row.injected[0]]).toBeGreaterThanOrEqual(row.injected[1]);
      expect(await readdir(work)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

/** Ends the first download after 5000 bytes and answers every later one with the whole object. */
function cutThenWhole(body: Buffer): FaultPlan {
  // A clean end, not a reset: a reset may lose the bytes still in the proxy's buffers, and the resume
  // would then start again at byte 0, where a 200 is a valid answer.
  const first = faultOnFirstDownload({ kind: 'truncate', afterBytes: 5000 });
  return (request) => first(request) ?? faultOnLaterParts({ kind: 'whole', body })(request);
}

describe('unseal through a lying s3', () => {
  it.each([
    { fault: 'a bit flipped in transit (the MAC or the store MD5 catches it)', plan: () => faultOnFirstDownload({ kind: 'flip', atByte: 5000 }), code: 4 },
    // The resume after an early end asks for a Range mid-part: a 200 there is refused as well.
    { fault: 'range ignored on the resume after a cut', plan: () => cutThenWhole(sealed), code: 5 },
    { fault: '503', plan: () => faultOnEveryDownload({ kind: 'status', status: 503 }), code: 5 },
    // --part-size reaches unseal through the source (it was read only by decrypt, reseal and batch).
    { fault: 'range ignored on the second 64 KiB part', plan: () => faultOnLaterParts({ kind: 'whole', body: sealed }), code: 5 },
  ])('$fault: exit $code, one line, nothing left', async ({ plan, code }) => {
    const proxy = await startFaultProxy(inject('s3Endpoint'), plan());
    try {
      const work = join(dir, `unseal-${code}-${proxy.url.split(':').pop()}`);
      await mkdir(work);
      const result = await runCliInProcess(
        ['unseal', `s3://${bucket}/${sealedKey}`, '--key', key, ...passArgs, '--part-size', '64KiB', '--retries', '1', '--output', join(work, 'out.ts')],
        { ...passEnv, ...s3Env(proxy.url) },
      );
      expect(result.stderr).toMatch(/^archive-crypt: [^\n]+\n$/);
      expect(result.code).toBe(code);
      expect(await readdir(work)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
