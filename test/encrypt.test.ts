/**
 * `archive-crypt encrypt`: the real MPEG-TS fixture round-trips through encrypt → decrypt, the --json
 * output is an archive JSON that decrypt accepts, and the outputs are never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliInProcess } from './support/cli-in-process.js';
import { passArgs, passEnv, fixtureWorkspace, vonageFixture as fx } from './support/vonage-fixture.js';

const { dir, key, sample } = await fixtureWorkspace();

/** A fresh empty folder per case, to see exactly what each run leaves behind. */
async function caseDir(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  return path;
}

describe('encrypt → decrypt round trip', () => {
  it('the real MPEG-TS fixture comes back identical, with every packet counted', async () => {
    const work = await caseDir('roundtrip');
    const archive = join(work, 'archive.mp4');
    const encrypted = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', archive]);
    expect(encrypted.code).toBe(0);
    const password = encrypted.stdout.trim();
    expect(Buffer.from(password, 'base64').length).toBe(256);
    expect(encrypted.stderr).toMatch(/encrypted .*sample\.ts \(67868 bytes\) → .*archive\.mp4 \(67872 bytes\)/);
    expect((await readFile(archive)).length).toBe(67872);

    const output = join(work, 'media.ts');
    const decrypted = await runCliInProcess(['decrypt', archive, '--key', key, ...passArgs, '--password', password, '--output', output, '--json'], passEnv);
    expect(decrypted.code).toBe(0);
    expect((await readFile(output)).equals(sample)).toBe(true);
    expect(JSON.parse(decrypted.stdout)).toMatchObject({ ok: true, checks: { mpegts: { status: 'ok', packets: sample.length / 188, trailingBytes: 0 } } });
  });

  it('two runs use fresh keys: different passwords and different ciphertexts', async () => {
    const work = await caseDir('fresh');
    const a = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(work, 'a.mp4')]);
    const b = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(work, 'b.mp4')]);
    expect(a.stdout).not.toBe(b.stdout);
    expect((await readFile(join(work, 'a.mp4'))).equals(await readFile(join(work, 'b.mp4')))).toBe(false);
  });

  it('--json prints an archive JSON that decrypt --archive-json checks (sha256sum and size of the ciphertext)', async () => {
    const work = await caseDir('json');
    const archive = join(work, 'archive.mp4');
    const encrypted = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', archive, '--json']);
    expect(encrypted.code).toBe(0);
    const json = JSON.parse(encrypted.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ status: 'uploaded', size: 67872, plaintextBytes: 67868, password: expect.any(String) as unknown });
    await writeFile(join(work, 'archive.json'), encrypted.stdout);
    const decrypted = await runCliInProcess(['decrypt', archive, '--key', key, ...passArgs, '--archive-json', join(work, 'archive.json'), '--json'], passEnv);
    expect(decrypted.code).toBe(0);
    expect(JSON.parse(decrypted.stdout)).toMatchObject({
      ok: true,
      archiveId: json.id,
      checks: { sha256: { status: 'ok', matched: 'ciphertext' }, size: { status: 'ok', matched: 'ciphertext' } },
    });
  });

  it('reads stdin, streams the archive to stdout and writes the password to --password-out (0600)', async () => {
    const work = await caseDir('stdout');
    const passwordOut = join(work, 'password.txt');
    const encrypted = await runCliInProcess(['encrypt', '-', '--cert', fx.certPem, '--output', '-', '--password-out', passwordOut], {}, sample);
    expect(encrypted.code).toBe(0);
    expect(encrypted.stdoutBytes.length).toBe(67872);
    expect((await stat(passwordOut)).mode & 0o777).toBe(0o600);
    await writeFile(join(work, 'archive.mp4'), encrypted.stdoutBytes);
    const decrypted = await runCliInProcess(['decrypt', join(work, 'archive.mp4'), '--key', key, ...passArgs, '--password-file', passwordOut, '--output', '-'], passEnv);
    expect(decrypted.code).toBe(0);
    expect(decrypted.stdoutBytes.equals(sample)).toBe(true);
  });

  it('is not subject to the plaintext-file policy: its output is ciphertext', async () => {
    const work = await caseDir('policy');
    const result = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(work, 'archive.mp4')], { ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' });
    expect(result.code).toBe(0);
  });
});

describe('encrypt: refusals', () => {
  // Each row builds the arguments after `encrypt` from the case folder and a file that already exists there.
  it.each([
    ['--output - without --password-out', 2, (_w: string, _e: string) => [fx.sample, '--cert', fx.certPem, '--output', '-'], /--password-out/],
    ['missing --cert', 2, (w: string, _e: string) => [fx.sample, '--output', join(w, 'out.mp4')], /--cert/],
    ['a certificate that is not one', 3, (w: string, e: string) => [fx.sample, '--cert', e, '--output', join(w, 'out.mp4')], /not an X\.509 certificate/],
    ['an existing output', 6, (_w: string, e: string) => [fx.sample, '--cert', fx.certPem, '--output', e], /already exists/],
    ['an existing --password-out', 6, (w: string, e: string) => [fx.sample, '--cert', fx.certPem, '--output', join(w, 'out.mp4'), '--password-out', e], /already exists/],
    ['a missing input', 5, (w: string, _e: string) => [join(w, 'nope.ts'), '--cert', fx.certPem, '--output', join(w, 'out.mp4')], /no such file/],
  ])('%s: exit %i, one line, nothing written', async (name, code, makeArgs, message) => {
    const work = await caseDir(`refuse-${name.replace(/\W+/g, '-')}`);
    const existing = join(work, 'existing');
    await writeFile(existing, 'keep me');
    const result = await runCliInProcess(['encrypt', ...makeArgs(work, existing)]);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
    expect(await readdir(work)).toEqual(['existing']);
    expect(await readFile(existing, 'utf8')).toBe('keep me');
  });
});

describe('encrypt --help', () => {
  it('shows a worked example and the openssl check', async () => {
    const result = await runCliInProcess(['encrypt', '--help']);
    expect(result.code).toBe(0);
    for (const flag of ['--cert', '--output', '--password-out', '--json']) expect(result.stdout).toContain(flag);
    expect(result.stdout).toMatch(/Examples:/);
    expect(result.stdout).toMatch(/openssl pkeyutl -decrypt/);
  });
});

it('encrypts random bytes too (the MPEG-TS check is decrypt’s business)', async () => {
  const work = await caseDir('random');
  const input = join(work, 'random.bin');
  await writeFile(input, randomBytes(1000));
  const result = await runCliInProcess(['encrypt', input, '--cert', fx.certPem, '--output', join(work, 'random.mp4')]);
  expect(result.code).toBe(0);
  expect((await stat(join(work, 'random.mp4'))).size).toBe(1008);
});
