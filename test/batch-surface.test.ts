/**
 * What `batch` shows and refuses: the report names the object really read (no double slash, the
 * store's prefix honoured), a forgotten --out-dir is a usage error rather than a silent verify-only
 * run, and on a terminal the bar counts bytes over all archives (a real pseudo-terminal, through
 * util-linux `script`).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { cliPath, runProgram, tempDir } from './support/helpers.js';
import { createBucket, createContainer, putBlob, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { formatSize } from '../src/cli/storage-options.js';
import { encryptedArchive, passArgs, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const apiKey = '47000000';
const bucket = uniqueName('batch-surface');
const container = uniqueName('batch-surface');
let dir: string;
let key: string;
let media: Buffer;
let listFile: string;
/** Bytes of the three archives in the bucket: what a batch over the list really reads. */
let encryptedBytes = 0;
const ids = ['s-one', 's-two', 's-three'];

beforeAll(async () => {
  // The AWS SDK reads its credentials from the process environment, which in-process runs share.
  Object.assign(process.env, s3Env());
  dir = await tempDir();
  key = await privateKeyCopy(dir);
  media = await readFile(vonageFixture.sample);
  const archives = await Promise.all(ids.map((id) => encryptedArchive(id, media, apiKey)));
  encryptedBytes = archives.reduce((sum, archive) => sum + archive.body.length, 0);
  await createBucket(bucket);
  await createContainer(container);
  for (const archive of archives) {
    // At the root, as Vonage uploads them, and a copy under a folder.
    await putS3Object(bucket, `${apiKey}/${archive.id}/archive.mp4`, archive.body);
    await putS3Object(bucket, `copies/${apiKey}/${archive.id}/archive.mp4`, archive.body);
    await putBlob(container, `copies/${apiKey}/${archive.id}/archive.mp4`, archive.body);
  }
  const missing = (await encryptedArchive('s-missing', media, apiKey)).item;
  const expired = { ...(await encryptedArchive('s-expired', media, apiKey)).item, status: 'expired' };
  listFile = join(dir, 'archives.json');
  const items = [...archives.map((archive) => archive.item), missing, expired];
  await writeFile(listFile, JSON.stringify({ count: items.length, items }));
});

const env = () => ({ ...passEnv, ...s3Env(), AZURE_STORAGE_CONNECTION_STRING: inject('azureConnectionString') });

describe('batch report: the object names', () => {
  it.each([
    [`s3://${bucket}`, `s3://${bucket}/${apiKey}`],
    [`s3://${bucket}/`, `s3://${bucket}/${apiKey}`],
    [`s3://${bucket}//`, `s3://${bucket}/${apiKey}`],
    [`s3://${bucket}/copies`, `s3://${bucket}/copies/${apiKey}`],
    [`s3://${bucket}/copies/`, `s3://${bucket}/copies/${apiKey}`],
    [`azure://${container}/copies/`, `azure://${container}/copies/${apiKey}`],
  ])('--from %s reads and reports %s/<id>/archive.mp4', async (from, folder) => {
    const result = await runCliInProcess(['batch', '--archives', listFile, '--from', from, '--verify-only', '--key', key, ...passArgs, '--json', '--retries', '0'], env());
    const report = JSON.parse(result.stdout) as { verified: number; archives: { id: string; status: string; object: string }[] };
    expect(report.verified).toBe(3);
    for (const item of report.archives.filter((a) => a.status !== 'skipped')) {
      expect(item.object).toBe(`${folder}/${item.id}/archive.mp4`);
      expect(item.object.slice(item.object.indexOf('://') + 3)).not.toContain('//');
    }
    // The one not uploaded is not found under that same name.
    expect(result.stderr).toMatch(/failed +s-missing .*not found/);
    expect(result.code).toBe(5);
  });
});

describe('list under the same prefixes', () => {
  it.each([`s3://${bucket}/copies`, `s3://${bucket}/copies/`])('list %s --api-key finds the copies', async (store) => {
    const result = await runCliInProcess(['list', store, '--api-key', apiKey, '--json'], env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listed = JSON.parse(result.stdout) as { items: { uri: string }[] };
    expect(listed.items.map((item) => item.uri).sort()).toEqual(ids.map((id) => `s3://${bucket}/copies/${apiKey}/${id}/archive.mp4`).sort());
  });
});

describe('batch needs an explicit choice of output', () => {
  it('without --out-dir or --verify-only: exit 2, one line, nothing read', async () => {
    const result = await runCliInProcess(['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--key', key, ...passArgs], env());
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('archive-crypt: give --out-dir DIR to decrypt into files, or --verify-only to only run the checks\n');
  });

  it('with both: exit 2, one line', async () => {
    const result = await runCliInProcess(['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--key', key, ...passArgs, '--verify-only', '--out-dir', join(dir, 'both')], env());
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('archive-crypt: give either --out-dir DIR or --verify-only, not both\n');
    await expect(readdir(join(dir, 'both'))).rejects.toThrow(/ENOENT/);
  });
});

describe('batch on a terminal', () => {
  const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

  it('shows bytes, rate and archives over the whole batch', async () => {
    const outDir = join(dir, 'tty-out');
    const args = ['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--out-dir', outDir, '--key', key, ...passArgs, '--retries', '0', '--concurrency', '2'];
    const command = [process.execPath, cliPath, ...args].map(quote).join(' ');
    const result = await runProgram('script', ['-qec', command, '/dev/null'], { env: env() });
    expect(result.code).toBe(5);
    // The bar's last frame: every byte of the three archives read, out of a total corrected for the
    // skipped and the missing one, with a rate and the archive count.
    const frames = [...result.stdout.matchAll(/batch \S* (\d+)% \| ([\d.]+ [KMG]?i?B) \/ ([\d.]+ [KMG]?i?B) \| ([\d.]+ [KMG]?i?B)\/s \| (\d)\/5 archives \| (\d) failed/g)];
    expect(frames.length).toBeGreaterThan(0);
    const [, percent, done, total, , archivesDone, failed] = frames.at(-1)!;
    expect({ percent, done, total, archivesDone, failed }).toEqual({ percent: '100', done: formatSize(encryptedBytes), total: formatSize(encryptedBytes), archivesDone: '5', failed: '1' });
    // Per-archive lines come after the bar is gone, then the summary.
    expect(result.stdout).toMatch(/decrypted +s-one /);
    expect(result.stdout).toMatch(/batch: 3 decrypted, 0 verified, 1 skipped, 1 failed of 5 archives/);
    expect((await readdir(outDir)).sort()).toEqual(['s-one.ts', 's-three.ts', 's-two.ts']);
  });
});
