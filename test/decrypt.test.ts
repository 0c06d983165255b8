/**
 * `archive-crypt decrypt` on the committed openssl-made fixture: every way of giving the password,
 * every kind of output, the keyring, and the report (human and JSON).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DecryptJson } from '../src/cli/report.js';
import { openssl, runCli, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let otherKey: string;
let sample: Buffer;
let archiveJson: Record<string, unknown>;

beforeAll(async () => {
  dir = await tempDir();
  key = await privateKeyCopy(dir);
  otherKey = join(dir, 'other.pem');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', otherKey]);
  sample = await readFile(fx.sample);
  archiveJson = JSON.parse(await readFile(fx.archiveJson, 'utf8')) as Record<string, unknown>;
});

/** Writes a JSON document into the temp folder and returns its path. */
async function jsonFile(name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(value));
  return path;
}

const decrypt = (args: string[], input?: Buffer) =>
  runCliInProcess(['decrypt', ...args, '--key', key, ...passArgs], passEnv, input);

describe('decrypt: the openssl-made fixture', () => {
  it('verifies only, writing nothing, and reports every check', async () => {
    const before = await readdir(dir);
    const result = await runCli(['decrypt', fx.archive, '--key', key, ...passArgs, '--archive-json', fx.archiveJson], { env: passEnv, cwd: dir });
    expect(result.stderr).not.toMatch(/archive-crypt:/);
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.length).toBe(0);
    expect(await readdir(dir)).toEqual(before);
    expect(result.stderr).toContain('→ nowhere (verify only)');
    expect(result.stderr).toContain(`archive  ${fx.archiveId}`);
    expect(result.stderr).toMatch(/length +ok: 67872 bytes encrypted, 67868 bytes decrypted/);
    expect(result.stderr).toMatch(/padding +ok \(PKCS#7 removed\)/);
    expect(result.stderr).toMatch(/MPEG-TS +ok: 361 packets of 188 bytes/);
    expect(result.stderr).toMatch(/sha256 +ok: matches the encrypted archive/);
    expect(result.stderr).toMatch(/size +ok: 67872 bytes, matches the encrypted archive/);
    expect(result.stderr).toMatch(/RSA-OAEP SHA-1/);
  });

  it('writes a byte-identical file with mode 0600 and a JSON report', async () => {
    const output = join(dir, 'out-file.ts');
    const result = await decrypt([fx.archive, '--password-file', fx.passwordFile, '--output', output, '--json']);
    expect(result.code).toBe(0);
    expect((await readFile(output)).equals(sample)).toBe(true);
    expect((await stat(output)).mode & 0o777).toBe(0o600);
    const report = JSON.parse(result.stdout) as DecryptJson;
    expect(report).toMatchObject({
      ok: true,
      output,
      ciphertextBytes: 67872,
      plaintextBytes: sample.length,
      padding: 'pkcs7',
      checks: { length: 'ok', padding: 'ok', mpegts: { status: 'ok', packets: sample.length / 188, trailingBytes: 0 }, sha256: { status: 'skipped' } },
      key: { index: 0, path: key, oaepHash: 'sha1' },
    });
    expect((await readdir(dir)).filter((name) => name.endsWith('.partial'))).toEqual([]);
  });

  it('takes the password on the command line and the archive on stdin', async () => {
    const password = (await readFile(fx.passwordFile, 'utf8')).trim();
    const result = await decrypt(['-', '--password', password, '--output', '-'], await readFile(fx.archive));
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);
  });

  it('streams to stdout with --output -, the JSON report then going to stderr', async () => {
    const result = await decrypt([fx.archive, '--archive-json', fx.archiveJson, '--output', '-', '--json']);
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);
    const report = JSON.parse(result.stderr) as DecryptJson;
    expect(report).toMatchObject({ ok: true, output: 'stdout', archiveId: fx.archiveId, checks: { sha256: { status: 'ok', matched: 'ciphertext' } } });
  });

  it('--quiet prints nothing on success', async () => {
    const result = await decrypt([fx.archive, '--archive-json', fx.archiveJson, '--quiet']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
  });
});

describe('decrypt: --archive-json shapes', () => {
  const other = { id: '0b7c1f4e-0000-4000-8000-000000000000', status: 'uploaded', password: 'AAAA', size: 1 };

  it('accepts a callback body (partnerId, status "uploaded")', async () => {
    const callback: Record<string, unknown> = { ...archiveJson, partnerId: 123456, event: 'archive', status: 'uploaded' };
    delete callback.projectId;
    const path = await jsonFile('callback.json', callback);
    const result = await decrypt([fx.archive, '--archive-json', path, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, archiveId: fx.archiveId, checks: { size: { status: 'ok', matched: 'ciphertext' } } });
  });

  it('picks an item of a list response with --archive-id', async () => {
    const path = await jsonFile('list.json', { count: 2, items: [other, archiveJson] });
    const result = await decrypt([fx.archive, '--archive-json', path, '--archive-id', fx.archiveId, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, archiveId: fx.archiveId });
  });

  it('asks for --archive-id when a list holds several archives', async () => {
    const path = await jsonFile('list2.json', { count: 2, items: [other, archiveJson] });
    const result = await decrypt([fx.archive, '--archive-json', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/holds 2 archives: pick one with --archive-id/);
  });

  it('reports a sha256sum that covers the decrypted media', async () => {
    const sha256sum = createHash('sha256').update(sample).digest('base64');
    const path = await jsonFile('plain-sha.json', { ...archiveJson, sha256sum, size: sample.length });
    const result = await decrypt([fx.archive, '--archive-json', path]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/sha256 +ok: matches the decrypted media/);
    expect(result.stderr).toMatch(/size +ok: 67868 bytes, matches the decrypted media/);
  });

  it('--expect-sha256 (hex) overrides the sha256sum of the archive JSON', async () => {
    const hex = createHash('sha256').update(sample).digest('hex');
    const result = await decrypt([fx.archive, '--archive-json', fx.archiveJson, '--expect-sha256', hex, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ checks: { sha256: { status: 'ok', matched: 'plaintext' } } });
  });

  it('fails on a size that matches neither side', async () => {
    const path = await jsonFile('bad-size.json', { ...archiveJson, size: 1234 });
    const result = await decrypt([fx.archive, '--archive-json', path, '--json']);
    expect(result.code).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/size mismatch/) as unknown, code: 'ERR_INTEGRITY' }, exitCode: 4, checks: { size: { status: 'failed', expected: 1234 } } });
  });
});

describe('decrypt: keyring', () => {
  it('finds the key that opens the password when only the second --key matches', async () => {
    const result = await runCliInProcess(['decrypt', fx.archive, '--key', otherKey, '--key', key, ...passArgs, '--archive-json', fx.archiveJson, '--json'], passEnv);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, key: { index: 1, path: key } });
    const human = await runCliInProcess(['decrypt', fx.archive, '--key', otherKey, '--key', key, ...passArgs, '--archive-json', fx.archiveJson], passEnv);
    expect(human.stderr).toMatch(/key +.*key\.pem \(key 2 of 2, RSA-OAEP SHA-1\)/);
  });

  it('fails with exit 3 when no key of the keyring matches', async () => {
    const result = await runCliInProcess(['decrypt', fx.archive, '--key', otherKey, '--key', otherKey, '--archive-json', fx.archiveJson]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/none of the 2 keys opens the archive password/);
  });
});

describe('decrypt --help', () => {
  it('documents every option with a worked example', async () => {
    const result = await runCliInProcess(['decrypt', '--help']);
    expect(result.code).toBe(0);
    for (const flag of ['--key', '--passphrase-env', '--passphrase-file', '--password', '--password-file', '--archive-json', '--archive-id', '--output', '--expect-sha256', '--padding', '--no-mpegts-check', '--json', '--quiet']) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toMatch(/Examples:/);
    expect(result.stdout).toMatch(/ffplay -/);
  });
});
