/**
 * `batch --archives vonage` and `decrypt --vonage-archive` end to end: the archive list and JSON from
 * the Vonage API stub (every token verified), the media from the S3 emulator or, for archives in
 * Vonage's fallback storage, from the stub's `url`, deleted from Vonage only after they verified.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess as cli } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { startVonageStub, type VonageStub } from './support/vonage-stub.js';
import { encryptedArchive, passArgs, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const apiKey = '47000000';
const apiSecret = 'project-api-secret-value';
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('the Vonage API as the archive list', () => {
  let stub: VonageStub;
  let bucket: string;
  let dir: string;
  let key: string;
  let env: NodeJS.ProcessEnv;
  let media: Buffer;
  let inStorage: Awaited<ReturnType<typeof encryptedArchive>>;
  let fallback: Awaited<ReturnType<typeof encryptedArchive>>;

  beforeAll(async () => {
    // The AWS SDK reads its credentials from the process environment, which in-process runs share.
    Object.assign(process.env, s3Env());
    stub = await startVonageStub({ kind: 'project', apiKey, apiSecret });
    bucket = uniqueName('vonage-batch');
    await createBucket(bucket);
    dir = await tempDir();
    key = await privateKeyCopy(dir);
    media = await readFile(vonageFixture.sample);
    inStorage = await encryptedArchive(id(1), media, apiKey);
    fallback = await encryptedArchive(id(4), media, apiKey);
    await putS3Object(bucket, `${apiKey}/${id(1)}/archive.mp4`, inStorage.body);
    env = { ...s3Env(), ...passEnv, VONAGE_API_KEY: apiKey, VONAGE_API_SECRET: apiSecret, VONAGE_VIDEO_API_URL: stub.url };
  });
  afterAll(() => stub.close());

  const resetArchives = () => {
    stub.archives = [
      inStorage.item,
      { ...inStorage.item, id: id(2), outputMode: 'individual', password: '' },
      { ...inStorage.item, id: id(3), password: '' },
      { ...fallback.item, status: 'available', url: stub.serveFallback(id(4), fallback.body) },
      { ...inStorage.item, id: id(5), status: 'failed', password: '' },
    ];
  };

  it('batch --archives vonage: decrypts from S3 and from the fallback url, deletes only the fallback copy, skips the rest with the reason', async () => {
    resetArchives();
    const out = join(dir, 'batch-out');
    const report = join(dir, 'report.json');
    const result = await cli(
      ['batch', '--archives', 'vonage', '--from', `s3://${bucket}`, '--out-dir', out, '--key', key, ...passArgs, '--delete-after', '--report', report, '--threads', '0'],
      env,
    );
    expect(result.stderr).toMatch(/batch: 2 decrypted, 0 verified, 3 skipped, 0 failed of 5 archives/);
    expect(result.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual([`${id(1)}.ts`, `${id(4)}.ts`]);
    expect((await readFile(join(out, `${id(1)}.ts`))).equals(media)).toBe(true);
    expect((await readFile(join(out, `${id(4)}.ts`))).equals(media)).toBe(true);
    const items = (JSON.parse(await readFile(report, 'utf8')) as { archives: { id: string; status: string; note?: string; object: string; deletedFromVonage?: boolean }[] }).archives;
    expect(items.map((item) => [item.id, item.status])).toEqual([
      [id(1), 'decrypted'],
      [id(2), 'skipped'],
      [id(3), 'skipped'],
      [id(4), 'decrypted'],
      [id(5), 'skipped'],
    ]);
    expect(items[1]?.note).toBe('individual stream archive: a ZIP file Vonage does not encrypt');
    expect(items[2]?.note).toBe('not encrypted ("password" is empty): nothing to decrypt');
    expect(items[4]?.note).toBe('status "failed": not in your storage');
    expect(items[0]).toMatchObject({ object: `s3://${bucket}/${apiKey}/${id(1)}/archive.mp4` });
    expect(items[0]?.deletedFromVonage).toBeUndefined();
    expect(items[3]).toMatchObject({ object: `${stub.url}/fallback/${id(4)}/archive.mp4`, deletedFromVonage: true });
    // Only the fallback copy went: the archive in your storage keeps its record (and password).
    expect(stub.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([`/v2/project/${apiKey}/archive/${id(4)}`]);
    expect(stub.archives.map((archive) => archive.id)).not.toContain(id(4));
    expect(stub.archives.map((archive) => archive.id)).toContain(id(1));
    expect(result.stdout + result.stderr).not.toContain(apiSecret);
  });

  it('batch --delete-after refuses --verify-only: nothing would be kept', async () => {
    const result = await cli(['batch', '--archives', 'vonage', '--from', `s3://${bucket}`, '--verify-only', '--key', key, ...passArgs, '--delete-after'], env);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringMatching(/^archive-crypt: --delete-after needs --out-dir/) as unknown });
  });

  it('decrypt --vonage-archive reads a fallback archive from its url, then deletes it from Vonage', async () => {
    resetArchives();
    const output = join(dir, 'fallback.ts');
    const result = await cli(['decrypt', '--vonage-archive', id(4), '--key', key, ...passArgs, '--output', output, '--delete-after', '--quiet'], env);
    expect(result.stderr).toBe(`deleted archive ${id(4)} from Vonage's fallback storage\n`);
    expect(result.code).toBe(0);
    expect((await readFile(output)).equals(media)).toBe(true);
    expect(stub.archives.map((archive) => archive.id)).not.toContain(id(4));
  });

  it('decrypt --vonage-archive never deletes an archive that failed a check', async () => {
    resetArchives();
    const damaged = Buffer.from(fallback.body);
    damaged[1000] = (damaged[1000] ?? 0) ^ 1;
    const url = stub.serveFallback(`${id(4)}-damaged`, damaged);
    stub.archives = [{ ...fallback.item, status: 'available', url }];
    const output = join(dir, 'damaged.ts');
    const result = await cli(['decrypt', '--vonage-archive', id(4), '--key', key, ...passArgs, '--output', output, '--delete-after', '--quiet'], env);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^archive-crypt: .*sha256/);
    await expect(readFile(output)).rejects.toThrow(/ENOENT/);
    expect(stub.archives).toHaveLength(1);
  });

  it('decrypt --vonage-archive with the source in your storage takes password, sha256sum and size from the API', async () => {
    resetArchives();
    const result = await cli(['decrypt', `s3://${bucket}/${apiKey}/${id(1)}/archive.mp4`, '--vonage-archive', id(1), '--key', key, ...passArgs, '--json'], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ archiveId: id(1), checks: { sha256: { status: 'ok' }, size: { status: 'ok' } } });
  });

  it.each([
    ['in your storage without a source', [id(1)], 2, new RegExp(`^archive-crypt: archive ${id(1)} is in your storage, not Vonage's: give its source, e.g. s3://<bucket>/${apiKey}/${id(1)}/archive.mp4\\n$`)],
    ['--delete-after of an archive in your storage', [id(1), 's3://x/y', '--output', 'never.ts', '--delete-after'], 2, /--delete-after deletes only archives held in Vonage's fallback storage/],
    ['--delete-after to stdout', [id(4), '--output', '-', '--delete-after'], 2, /--delete-after needs --output FILE/],
    ['an individual stream archive', [id(2)], 2, /is an individual stream archive \(a ZIP file Vonage does not encrypt\), so there is nothing to decrypt/],
    ['an unknown archive', ['no-such-archive'], 5, /^archive-crypt: Vonage has no archive no-such-archive in project 47000000 \(HTTP 404/],
    ['with --password too', [id(1), '--password', 'abc'], 2, /give only one of --password, --password-file, --archive-json and --vonage-archive/],
  ])('decrypt --vonage-archive: %s', async (_name, [archiveId, ...rest], code, message) => {
    resetArchives();
    const args = ['decrypt', ...(rest[0]?.startsWith('s3://') ? [rest.shift() as string] : []), '--vonage-archive', archiveId as string, '--key', key, ...passArgs, ...rest];
    const result = await cli(args, { ...env });
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(code);
    await expect(readFile(join(dir, 'never.ts'))).rejects.toThrow(/ENOENT/);
  });
});
