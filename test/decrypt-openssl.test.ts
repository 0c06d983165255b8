/**
 * Interoperability with the openssl command line, following Vonage's guide, both ways:
 * - archives made with `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep` over the 51-byte blob
 *   and `openssl enc -aes-256-cbc -K -iv` decrypt byte-identically with `archive-crypt decrypt`;
 * - archives made by `archive-crypt encrypt` decrypt with `openssl pkeyutl -decrypt` + `openssl enc -d`,
 *   and `-nopad` gives what `decrypt --padding none` gives.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let publicKey: string;
let sample: Buffer;

beforeAll(async () => {
  dir = await tempDir();
  key = await privateKeyCopy(dir);
  publicKey = join(dir, 'pub.pem');
  await writeFile(publicKey, (await openssl(['x509', '-in', fx.certPem, '-pubkey', '-noout'])).stdout);
  sample = await readFile(fx.sample);
});

describe('openssl-made archives decrypt with archive-crypt', () => {
  it.each([
    ['OAEP SHA-1 (openssl default, as Vonage)', [], 'sha1'],
    ['OAEP SHA-256', ['-pkeyopt', 'rsa_oaep_md:sha256'], 'sha256'],
  ])('%s', async (name, oaepOptions, oaepHash) => {
    const tag = oaepHash;
    const aesKey = randomBytes(32).toString('hex');
    const iv = randomBytes(16).toString('hex');
    const blob = join(dir, `blob-${tag}.bin`);
    const wrapped = join(dir, `wrapped-${tag}.bin`);
    const archive = join(dir, `archive-${tag}.mp4`);
    await writeFile(blob, Buffer.from(`010101${aesKey}${iv}`, 'hex'));
    await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', publicKey, '-pkeyopt', 'rsa_padding_mode:oaep', ...oaepOptions, '-in', blob, '-out', wrapped]);
    await openssl(['enc', '-aes-256-cbc', '-K', aesKey, '-iv', iv, '-in', fx.sample, '-out', archive]);
    const password = (await readFile(wrapped)).toString('base64');

    const output = join(dir, `decrypted-${tag}.ts`);
    const result = await runCliInProcess(['decrypt', archive, '--key', key, ...passArgs, '--password', password, '--output', output, '--json'], passEnv);
    expect(result.stderr, name).toBe('');
    expect(result.code).toBe(0);
    expect((await readFile(output)).equals(sample)).toBe(true);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, key: { oaepHash }, checks: { mpegts: { packets: sample.length / 188 } } });
  });

  it('the committed fixture (made by scripts/make-fixtures.sh) decrypts to the committed media', async () => {
    const result = await runCliInProcess(['decrypt', fx.archive, '--key', key, ...passArgs, '--password-file', fx.passwordFile, '--output', '-'], passEnv);
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);
  });

  it('--padding none gives exactly what openssl enc -d -nopad gives', async () => {
    const wrapped = join(dir, 'fixture-wrapped.bin');
    await writeFile(wrapped, Buffer.from((await readFile(fx.passwordFile, 'utf8')).trim(), 'base64'));
    const blob = await openssl(
      ['pkeyutl', '-decrypt', '-inkey', fx.keyPem, '-passin', 'env:FIXTURE_PASS', '-pkeyopt', 'rsa_padding_mode:oaep', '-in', wrapped],
      { env: passEnv },
    );
    const hex = blob.stdoutBytes.toString('hex');
    const nopad = await openssl(['enc', '-d', '-aes-256-cbc', '-nopad', '-K', hex.slice(6, 70), '-iv', hex.slice(70, 102), '-in', fx.archive]);
    const ours = await runCliInProcess(['decrypt', fx.archive, '--key', key, ...passArgs, '--password-file', fx.passwordFile, '--padding', 'none', '--output', '-', '--json'], passEnv);
    expect(ours.code).toBe(0);
    expect(ours.stdoutBytes.equals(nopad.stdoutBytes)).toBe(true);
    expect(ours.stdoutBytes.length).toBe(sample.length + 4);
    expect(JSON.parse(ours.stderr)).toMatchObject({ ok: true, padding: 'none', checks: { padding: 'skipped', mpegts: { status: 'ok', trailingBytes: 4 } } });
  });
});

describe('archives made by archive-crypt encrypt decrypt with openssl', () => {
  let archive: string;
  let wrapped: string;
  beforeAll(async () => {
    archive = join(dir, 'ours.mp4');
    const result = await runCliInProcess(['encrypt', fx.sample, '--cert', fx.certPem, '--output', archive]);
    expect(result.code).toBe(0);
    wrapped = join(dir, 'ours-wrapped.bin');
    await writeFile(wrapped, Buffer.from(result.stdout.trim(), 'base64'));
  });

  async function unwrapWithOpenssl(extra: string[] = []): Promise<{ key: string; iv: string; header: string }> {
    const blob = await openssl(
      ['pkeyutl', '-decrypt', '-inkey', fx.keyPem, '-passin', 'env:FIXTURE_PASS', '-pkeyopt', 'rsa_padding_mode:oaep', ...extra, '-in', wrapped],
      { env: passEnv },
    );
    expect(blob.stdoutBytes.length).toBe(51);
    const hex = blob.stdoutBytes.toString('hex');
    return { header: hex.slice(0, 6), key: hex.slice(6, 70), iv: hex.slice(70) };
  }

  it('openssl pkeyutl -decrypt (OAEP SHA-1) gives the 51-byte blob 01 01 01 | key | iv', async () => {
    expect((await unwrapWithOpenssl()).header).toBe('010101');
  });

  it('is not SHA-256 OAEP (Vonage uses SHA-1)', async () => {
    await expect(unwrapWithOpenssl(['-pkeyopt', 'rsa_oaep_md:sha256'])).rejects.toThrow(/failed/);
  });

  it('openssl enc -d -aes-256-cbc restores the media byte for byte', async () => {
    const { key: aesKey, iv } = await unwrapWithOpenssl();
    const plain = await openssl(['enc', '-d', '-aes-256-cbc', '-K', aesKey, '-iv', iv, '-in', archive]);
    expect(plain.stdoutBytes.equals(sample)).toBe(true);
  });

  it('openssl enc -d -nopad equals decrypt --padding none', async () => {
    const { key: aesKey, iv } = await unwrapWithOpenssl();
    const nopad = await openssl(['enc', '-d', '-aes-256-cbc', '-nopad', '-K', aesKey, '-iv', iv, '-in', archive]);
    const password = (await readFile(wrapped)).toString('base64');
    const ours = await runCliInProcess(['decrypt', archive, '--key', key, ...passArgs, '--password', password, '--padding', 'none', '--output', '-'], passEnv);
    expect(ours.code).toBe(0);
    expect(ours.stdoutBytes.equals(nopad.stdoutBytes)).toBe(true);
    expect(nopad.stdoutBytes.subarray(sample.length).equals(Buffer.alloc(4, 4))).toBe(true);
  });
});
