/**
 * `archive-crypt decrypt` straight from object storage (s3rver and azurite from the global setup), at
 * the key Vonage uploads to: the media comes out identical and every check runs; a missing object is
 * exit 5 with one line and no output file. The CLI runs in process; its environment (credentials,
 * endpoint) is the CliContext's.
 */
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, createContainer, putBlob, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { faultOnFirstDownload, faultSequence, startFaultProxy } from './support/fault-proxy.js';
import { fixtureWorkspace, passArgs, passEnv, vonageArchive, vonageFixture as fx } from './support/vonage-fixture.js';

const bucket = uniqueName('decrypt');
const container = uniqueName('decrypt');
const objectKey = `123456/${fx.archiveId}/archive.mp4`;
const { dir, key, sample } = await fixtureWorkspace();

beforeAll(async () => {
  const archive = await readFile(fx.archive);
  await createBucket(bucket);
  await createContainer(container);
  await Promise.all([putS3Object(bucket, objectKey, archive), putBlob(container, objectKey, archive)]);
});

const stores = [
  { name: 's3', spec: (k: string) => `s3://${bucket}/${k}`, env: () => s3Env() },
  { name: 'azure', spec: (k: string) => `azure://${container}/${k}`, env: () => ({ AZURE_STORAGE_CONNECTION_STRING: inject('azureConnectionString') }) },
];

describe.each(stores)('decrypt from $name', (store) => {
  it('streams the identical media and checks the archive JSON', async () => {
    const result = await runCliInProcess(['decrypt', store.spec(objectKey), '--key', key, ...passArgs, '--archive-json', fx.archiveJson, '--output', '-', '--json'], {
      ...passEnv,
      ...store.env(),
    });
    expect(result.stderr).not.toMatch(/archive-crypt:/);
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);
    expect(JSON.parse(result.stderr)).toMatchObject({
      ok: true,
      archiveId: fx.archiveId,
      checks: { mpegts: { status: 'ok', packets: sample.length / 188 }, sha256: { status: 'ok', matched: 'ciphertext' }, size: { status: 'ok' } },
    });
  });

  it('verifies the checksum the store keeps (S3 ETag MD5, Azure Content-MD5)', async () => {
    const result = await runCliInProcess(['decrypt', store.spec(objectKey), '--key', key, ...passArgs, '--password-file', fx.passwordFile, '--json'], {
      ...passEnv,
      ...store.env(),
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, checks: { storage: { status: 'ok', algorithms: ['md5'] } } });
  });

  it('a missing object is exit 5, one line, no output file', async () => {
    const work = join(dir, `missing-${store.name}`);
    await mkdir(work);
    const result = await runCliInProcess(
      ['decrypt', store.spec('123456/nope/archive.mp4'), '--key', key, ...passArgs, '--archive-json', fx.archiveJson, '--output', join(work, 'out.ts')],
      { ...passEnv, ...store.env() },
    );
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/^archive-crypt: [^\n]+\n$/);
    expect(await readdir(work)).toEqual([]);
  });
});

describe('a flaky connection', () => {
  it('still decrypts byte-identically: cut mid-body, then 500s, then resumed', async () => {
    const media = Buffer.concat(Array.from({ length: 64 }, () => sample));
    const { body, password } = await vonageArchive(media);
    const flakyKey = `123456/flaky/archive.mp4`;
    await putS3Object(bucket, flakyKey, body);
    const proxy = await startFaultProxy(
      inject('s3Endpoint'),
      faultSequence([{ kind: 'cut', afterBytes: 700_000 }, { kind: 'status', status: 500 }, { kind: 'cut', afterBytes: 100_000 }, { kind: 'status', status: 503 }]),
    );
    try {
      const result = await runCliInProcess(
        ['decrypt', `s3://${bucket}/${flakyKey}`, '--key', key, ...passArgs, '--password', password, '--output', '-', '--part-size', '1MiB', '--download-concurrency', '2'],
        { ...passEnv, ...s3Env(proxy.url) },
      );
      expect(proxy.injected.cut).toBe(2);
      expect(proxy.injected.status).toBe(2);
      expect(result.stderr).toMatch(/^verified s3:\/\/.*\n(.*\n)* {2}storage {2}ok: md5/);
      expect(result.code).toBe(0);
      expect(result.stdoutBytes.equals(media)).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

describe('a body corrupted in transit', () => {
  it('is caught by the store checksum even without an archive sha256 (exit 4, no output)', async () => {
    const proxy = await startFaultProxy(inject('s3Endpoint'), faultOnFirstDownload({ kind: 'flip', atByte: 20_000 }));
    try {
      const work = join(dir, 'flipped');
      await mkdir(work);
      const result = await runCliInProcess(
        ['decrypt', `s3://${bucket}/${objectKey}`, '--key', key, ...passArgs, '--password-file', fx.passwordFile, '--no-mpegts-check', '--output', join(work, 'out.ts')],
        { ...passEnv, ...s3Env(proxy.url) },
      );
      expect(proxy.injected.flip).toBe(1);
      expect(result.code).toBe(4);
      expect(result.stderr).toMatch(/^archive-crypt: [^\n]*md5[^\n]*\n$/);
      expect(await readdir(work)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('a reader that goes away', () => {
  it('is one clear line and exit 6, not a crash', async () => {
    const { writeFile } = await import('node:fs/promises');
    const { runProgram, cliPath } = await import('./support/helpers.js');
    const media = Buffer.concat(Array.from({ length: 64 }, () => sample));
    const { body, password } = await vonageArchive(media);
    const archive = join(dir, 'long.mp4');
    await writeFile(archive, body);
    const result = await runProgram(
      'bash',
      ['-c', `"${process.execPath}" "${cliPath}" decrypt "${archive}" --key "${key}" --passphrase-env FIXTURE_PASS --password "${password}" --output - | head -c 100 >/dev/null; exit \${PIPESTATUS[0]}`],
      { env: passEnv },
    );
    expect(result.code).toBe(6);
    expect(result.stderr).toBe('archive-crypt: stdout was closed by the program reading it; the output is incomplete\n');
  });
});
