/**
 * `reseal`, `seal` and `decrypt --output s3://… | azure://…`: the CLI writes through the object-store
 * sinks; a failed check leaves no object, an existing one is refused with exit 6.
 */
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { azureService, createBucket, createContainer, s3AdminClient, s3Env, uniqueName } from './support/emulators.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const bucket = uniqueName('outputs');
const container = uniqueName('outputs');

async function s3Object(key: string): Promise<Buffer | undefined> {
  try {
    await s3AdminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch {
    return undefined;
  }
  const object = await s3AdminClient().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

describe('CLI outputs on object stores', () => {
  let dir: string;
  let key: string;
  let media: Buffer;
  const env = { ...passEnv, ...s3Env(), AZURE_STORAGE_CONNECTION_STRING: inject('azureConnectionString') };

  // The AWS SDK reads its credentials from process.env, not from the in-process CLI's environment.
  const savedEnv = { ...process.env };
  afterAll(() => {
    process.env = savedEnv;
  });

  beforeAll(async () => {
    Object.assign(process.env, s3Env());
    dir = await tempDir();
    key = await privateKeyCopy(dir);
    media = await readFile(vonageFixture.sample);
    await createBucket(bucket);
    await createContainer(container);
  });

  const reseal = (source: string, output: string) =>
    runCliInProcess(
      ['reseal', source, '--archive-json', vonageFixture.archiveJson, '--key', key, ...passArgs, '--to', vonageFixture.certPem, '--output', output, '--quiet'],
      env,
    );

  it.each([
    ['s3', `s3://${bucket}/sealed/a.sealed`],
    ['azure', `azure://${container}/sealed/a.sealed`],
  ])('reseal --output %s: the sealed object unseals to the original media; a second run is refused (exit 6)', async (_store, output) => {
    const first = await reseal(vonageFixture.archive, output);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const local = join(dir, `${_store}.ts`);
    const unsealed = await runCliInProcess(['unseal', output, '--key', key, ...passArgs, '--output', local, '--quiet'], env);
    expect(unsealed.code).toBe(0);
    expect((await readFile(local)).equals(media)).toBe(true);
    const again = await reseal(vonageFixture.archive, output);
    expect(again.code).toBe(6);
    expect(again.stderr).toMatch(/^archive-crypt: .*already exists/);
  });

  it('a damaged archive (exit 4) leaves no object at --output', async () => {
    const archive = Buffer.from(await readFile(vonageFixture.archive));
    archive[30_000] = (archive[30_000] ?? 0) ^ 0x01;
    const damaged = join(dir, 'damaged.mp4');
    await writeFile(damaged, archive);
    const result = await reseal(damaged, `s3://${bucket}/sealed/damaged.sealed`);
    expect(result.code).toBe(4);
    expect(await s3Object('sealed/damaged.sealed')).toBeUndefined();
  });

  it('seal and decrypt write to S3 and Azure; the plaintext policy refuses object outputs too', async () => {
    const sealed = await runCliInProcess(['seal', vonageFixture.sample, '--to', vonageFixture.certPem, '--output', `s3://${bucket}/sealed/sample.sealed`, '--quiet'], env);
    expect(sealed.code).toBe(0);
    expect((await s3Object('sealed/sample.sealed'))?.includes(media.subarray(0, 1024))).toBe(false);

    const decryptArgs = ['decrypt', vonageFixture.archive, '--key', key, ...passArgs, '--archive-json', vonageFixture.archiveJson, '--quiet'];
    const decrypted = await runCliInProcess([...decryptArgs, '--output', `azure://${container}/media/a.ts`], env);
    expect(decrypted.code).toBe(0);
    const blob = azureService(inject('azureConnectionString')).getContainerClient(container).getBlockBlobClient('media/a.ts');
    expect((await blob.downloadToBuffer()).equals(media)).toBe(true);

    const denied = await runCliInProcess([...decryptArgs, '--output', `s3://${bucket}/media/denied.ts`], { ...env, ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' });
    expect(denied.code).toBe(6);
    expect(await s3Object('media/denied.ts')).toBeUndefined();
  });
});
