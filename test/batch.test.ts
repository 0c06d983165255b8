import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  azuriteConnectionString,
  createBucket,
  createContainer,
  putBlob,
  putS3Object,
  s3Env,
  uniqueName,
} from './support/emulators.js';
import { inject } from 'vitest';
import { runCli, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { encryptedArchive, passArgs, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const apiKey = '47000000';

interface Made {
  id: string;
  body: Buffer;
  item: Record<string, unknown>;
}

/** Encrypts the sample media in Vonage's format, as a fresh archive with its REST JSON item. */
const makeArchive = (id: string, media: Buffer): Promise<Made> => encryptedArchive(id, media, apiKey);

type Provider = {
  name: string;
  store: (bucket: string) => string;
  setup: (bucket: string, archives: Made[]) => Promise<void>;
  env: () => NodeJS.ProcessEnv;
  badEnv: () => NodeJS.ProcessEnv;
};

const providers: Provider[] = [
  {
    name: 's3',
    store: (bucket) => `s3://${bucket}`,
    setup: async (bucket, archives) => {
      await createBucket(bucket);
      for (const a of archives) await putS3Object(bucket, `${apiKey}/${a.id}/archive.mp4`, a.body);
    },
    env: () => s3Env(),
    badEnv: () => ({ ...s3Env(), AWS_ACCESS_KEY_ID: 'NOBODY', AWS_SECRET_ACCESS_KEY: 'wrong-secret' }),
  },
  {
    name: 'azure',
    store: (container) => `azure://${container}`,
    setup: async (container, archives) => {
      await createContainer(container);
      for (const a of archives) await putBlob(container, `${apiKey}/${a.id}/archive.mp4`, a.body);
    },
    env: () => ({ AZURE_STORAGE_CONNECTION_STRING: inject('azureConnectionString') }),
    badEnv: () => ({
      AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(inject('azureBlobEndpoint'), Buffer.alloc(64, 1).toString('base64')),
    }),
  },
];

describe.each(providers)('batch from $name', (provider) => {
  let dir: string;
  let key: string;
  let media: Buffer;
  let archives: Made[];
  let listFile: string;
  const bucket = uniqueName('batch');

  beforeAll(async () => {
    dir = await tempDir();
    key = await privateKeyCopy(dir);
    media = await readFile(vonageFixture.sample);
    archives = await Promise.all(['a-one', 'a-two', 'a-three'].map((id) => makeArchive(id, media)));
    await provider.setup(bucket, archives);
    const missing = (await makeArchive('a-missing', media)).item;
    const expired = { ...(await makeArchive('a-expired', media)).item, status: 'expired' };
    listFile = join(dir, 'archives.json');
    const items = [...archives.map((a) => a.item), missing, expired];
    await writeFile(listFile, JSON.stringify({ count: items.length, items }));
  });

  it('decrypts every archive found, reports the missing one, and resumes on a re-run', async () => {
    const outDir = join(dir, 'out');
    const reportFile = join(dir, 'report.json');
    const args = ['batch', '--archives', listFile, '--from', provider.store(bucket), '--out-dir', outDir, '--key', key, ...passArgs];
    const first = await runCli([...args, '--report', reportFile, '--concurrency', '2'], { env: { ...passEnv, ...provider.env() } });
    expect(first.stderr).toMatch(/batch: 3 decrypted, 0 verified, 1 skipped, 1 failed of 5 archives/);
    expect(first.stderr).toMatch(/failed\s+a-missing .*not found/);
    expect(first.code).toBe(5);

    for (const a of archives) {
      const path = join(outDir, `${a.id}.ts`);
      expect((await readFile(path)).equals(media)).toBe(true);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    }
    expect((await readdir(outDir)).sort()).toEqual(['a-one.ts', 'a-three.ts', 'a-two.ts']);

    const report = JSON.parse(await readFile(reportFile, 'utf8')) as {
      ok: boolean;
      archives: { id: string; status: string; error?: { code: string }; checks?: { sha256: { status: string; matched?: string } } }[];
    };
    expect(report.ok).toBe(false);
    const byId = Object.fromEntries(report.archives.map((a) => [a.id, a]));
    expect(byId['a-one']?.status).toBe('decrypted');
    expect(byId['a-one']?.checks?.sha256).toMatchObject({ status: 'ok', matched: 'ciphertext' });
    expect(byId['a-missing']).toMatchObject({ status: 'failed', error: { code: 'ERR_NOT_FOUND' } });
    expect(byId['a-expired']?.status).toBe('skipped');

    const second = await runCli([...args, '--json'], { env: { ...passEnv, ...provider.env() } });
    const again = JSON.parse(second.stdout) as { skipped: number; decrypted: number; failed: number };
    expect(again).toMatchObject({ skipped: 4, decrypted: 0, failed: 1 });
    expect(second.code).toBe(5);
  });

  it('verifies only, writing nothing', async () => {
    const result = await runCli(
      ['batch', '--archives', listFile, '--from', provider.store(bucket), '--verify-only', '--key', key, ...passArgs, '--json'],
      { env: { ...passEnv, ...provider.env() } },
    );
    const report = JSON.parse(result.stdout) as { verified: number; failed: number; archives: { output?: string }[] };
    expect(report.verified).toBe(3);
    expect(report.failed).toBe(1);
    expect(report.archives.every((a) => a.output === undefined)).toBe(true);
  });

  it('fails every archive with exit 5 on wrong credentials, leaving no output', async () => {
    const outDir = join(dir, 'out-bad-credentials');
    const result = await runCli(
      ['batch', '--archives', listFile, '--from', provider.store(bucket), '--out-dir', outDir, '--key', key, ...passArgs, '--retries', '0'],
      { env: { ...passEnv, ...provider.badEnv() } },
    );
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/0 decrypted, 0 verified, 1 skipped, 4 failed of 5/);
    expect(await readdir(outDir)).toEqual([]);
  });
});

describe('batch of large archives (shared worker pool)', () => {
  it('decrypts multi-MiB archives from S3 byte-identically on a shared pool (--threads 1)', async () => {
    const dir = await tempDir();
    const key = await privateKeyCopy(dir);
    const sample = await readFile(vonageFixture.sample);
    // ≈ 8 MiB of real MPEG-TS: above the size from which a batch hands ranges to its pool.
    const media = Buffer.concat(Array.from({ length: 124 }, () => sample));
    const archives = await Promise.all(['big-1', 'big-2'].map((id) => makeArchive(id, media)));
    const bucket = uniqueName('batch-big');
    await providers[0]?.setup(bucket, archives);
    const listFile = join(dir, 'list.json');
    await writeFile(listFile, JSON.stringify({ count: 2, items: archives.map((a) => a.item) }));
    const outDir = join(dir, 'out');
    const result = await runCli(['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--out-dir', outDir, '--key', key, ...passArgs, '--threads', '1'], {
      env: { ...passEnv, ...s3Env() },
    });
    expect(result.stderr).toMatch(/batch: 2 decrypted/);
    expect(result.code).toBe(0);
    for (const a of archives) expect((await readFile(join(outDir, `${a.id}.ts`))).equals(media)).toBe(true);
  });
});

describe('batch usage errors', () => {
  it.each([
    [['--out-dir', 'x', '--verify-only'], 2, /either --out-dir DIR or --verify-only/],
    [['--verify-only', '--concurrency', '0'], 2, /--concurrency must be a whole number/],
    [['--verify-only', '--threads', 'many'], 2, /--threads must be a whole number/],
  ])('%j → exit %i', async (extra, code, message) => {
    const result = await runCliInProcess(['batch', '--archives', vonageFixture.archiveJson, '--from', 's3://bucket', '--key', 'k.pem', ...extra]);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
  });

  it('refuses plaintext files under the deny policy (exit 6)', async () => {
    const dir = await tempDir();
    const result = await runCli(['batch', '--archives', vonageFixture.archiveJson, '--from', 's3://bucket', '--key', 'k.pem', '--out-dir', join(dir, 'o')], {
      env: { ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' },
    });
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/ARCHIVE_CRYPT_PLAINTEXT_FILES=deny/);
  });
});
