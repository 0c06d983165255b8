/**
 * Fault class: the disk fills up. A 64 KiB tmpfs mounted by this test (CI runs as root; where
 * mounting is not permitted every test here FAILS with that reason — a skipped fault test would hide
 * a broken guarantee) is smaller than any output below. Every writing command — decrypt, unseal,
 * seal, reseal, encrypt (with --password-out on the full disk too), batch — ends with exit 6, one
 * line that says the disk is full, and nothing in the folder (docs/RELIABILITY.md).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Credentials, s3Env, uniqueName } from './support/emulators.js';
import { encryptedArchive, passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

const run = promisify(execFile);
const apiKey = '47000003';
const bucket = uniqueName('fault-disk-full');
const ids = ['f-one', 'f-two'];
let dir: string;
let disk: string;
let mounted = false;
let mountFailure: string | undefined;
let key: string;
let password: string;
let sealed: string;
let listFile: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-disk-full-');
  key = await privateKeyCopy(dir);
  password = (await readFile(fx.passwordFile, 'utf8')).trim();
  sealed = join(dir, 'archive.sealed');
  expect((await runCliInProcess(['seal', fx.archive, '--to', fx.certPem, '--output', sealed, '--quiet'])).code).toBe(0);
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3Credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3Credentials.secretAccessKey });
  const media = await readFile(fx.sample);
  const made = await Promise.all(ids.map((id) => encryptedArchive(id, media, apiKey)));
  await createBucket(bucket);
  await Promise.all(made.map((a) => putS3Object(bucket, `${apiKey}/${a.id}/archive.mp4`, a.body)));
  listFile = join(dir, 'archives.json');
  await writeFile(listFile, JSON.stringify({ count: made.length, items: made.map((a) => a.item) }));

  disk = join(dir, 'disk');
  await mkdir(disk);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', disk]);
    mounted = true;
  } catch (error) {
    mountFailure = `cannot mount a tmpfs for the full-disk tests (run the suite as root, as CI does): ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`;
  }
});

afterAll(async () => {
  process.env = savedEnv;
  if (mounted) await run('umount', [disk]);
});

/** A fresh, empty folder on the small disk; fails the test when the disk could not be mounted. */
async function onFullDisk(name: string): Promise<string> {
  if (!mounted) throw new Error(mountFailure ?? 'the tmpfs was not mounted');
  const folder = join(disk, name);
  await mkdir(folder);
  return folder;
}

const diskFull = /^archive-crypt: [^\n]*ENOSPC[^\n]*\n$/;

describe('a full disk', () => {
  it.each([
    { command: 'decrypt', args: (out: string) => ['decrypt', fx.archive, '--key', key, ...passArgs, '--password', password, '--output', join(out, 'out.ts')] },
    { command: 'unseal', args: (out: string) => ['unseal', sealed, '--key', key, ...passArgs, '--output', join(out, 'out.ts')] },
    { command: 'seal', args: (out: string) => ['seal', fx.archive, '--to', fx.certPem, '--output', join(out, 'out.sealed')] },
    {
      command: 'reseal',
      args: (out: string) => ['reseal', fx.archive, '--to', fx.certPem, '--key', key, ...passArgs, '--password', password, '--output', join(out, 'out.sealed')],
    },
    {
      command: 'encrypt --password-out',
      args: (out: string) => ['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(out, 'out.mp4'), '--password-out', join(out, 'password.txt')],
    },
  ])('$command: exit 6, one line, nothing left', async ({ command, args }) => {
    const out = await onFullDisk(command.replace(/\W+/g, '-'));
    const result = await runCliInProcess(args(out), passEnv);
    expect(result.stderr).toMatch(diskFull);
    expect(result.stderr).toMatch(/disk is full/);
    expect(result.code).toBe(6);
    expect(await readdir(out)).toEqual([]);
  });

  it('encrypt: when only the password file cannot be written, neither file remains', async () => {
    const out = join(dir, 'encrypt-archive-elsewhere');
    await mkdir(out);
    const full = await onFullDisk('password-only');
    // Fill the disk, so that even the 345-byte password finds no room.
    const filler = join(full, 'filler');
    await writeFile(filler, Buffer.alloc(64 * 1024)).catch(() => undefined);
    try {
      const result = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(out, 'out.mp4'), '--password-out', join(full, 'password.txt')]);
      expect(result.stderr).toMatch(diskFull);
      expect(result.code).toBe(6);
      expect(await readdir(out)).toEqual([]);
      expect(await readdir(full)).toEqual(['filler']);
    } finally {
      await rm(filler, { force: true });
    }
  });

  it('batch: every archive fails with exit 6 and one line each, nothing left', async () => {
    const out = await onFullDisk('batch');
    const result = await runCliInProcess(
      ['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--out-dir', out, '--key', key, ...passArgs, '--concurrency', '1', '--quiet'],
      { ...passEnv, ...s3Env() },
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).toMatch(/batch: 0 decrypted, 0 verified, 0 skipped, 2 failed of 2 archives/);
    for (const id of ids) expect(result.stderr).toMatch(new RegExp(`${id}[^\\n]*ENOSPC`));
    expect(result.code).toBe(6);
    expect(await readdir(out)).toEqual([]);
  });
});
