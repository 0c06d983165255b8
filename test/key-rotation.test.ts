/**
 * Rotation across passphrases: the Nth passphrase option belongs to the Nth --key, one applies to all,
 * a key that cannot be opened is skipped with a warning, and every key is tried before "no key
 * matches" (exit 3). The second key is made by the openssl command line with its own passphrase.
 * Runs the CLI in process.
 */
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let current: string;
let other: string;
let sample: Buffer;
const env = { ...passEnv, OTHER_PASS: 'other-passphrase' };

beforeAll(async () => {
  dir = await tempDir();
  current = await privateKeyCopy(dir, 'current.pem');
  other = join(dir, 'other.pem');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-aes-256-cbc', '-pass', 'env:OTHER_PASS', '-out', other], { env });
  await chmod(other, 0o600);
  sample = await readFile(fx.sample);
});

const decrypt = (keyArgs: string[], extra: string[] = []) =>
  runCliInProcess(['decrypt', fx.archive, ...keyArgs, '--password-file', fx.passwordFile, ...extra], env);

describe('decrypt across keys with different passphrases', () => {
  it('pairs the Nth passphrase option with the Nth --key, in command-line order across both kinds', async () => {
    const passFile = join(dir, 'pass.txt');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(passFile, 'fixture-passphrase\n', { mode: 0o600 });
    const result = await decrypt(['--key', other, '--key', current, '--passphrase-env', 'OTHER_PASS', '--passphrase-file', passFile], ['--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { key: { index: number; path: string } };
    expect(report.key).toMatchObject({ index: 1, path: current });
  });

  it('skips a key whose passphrase is wrong, with a warning, and opens the archive with the next', async () => {
    const result = await decrypt(['-k', other, '-k', current, '--passphrase-env', 'FIXTURE_PASS'], ['-o', '-', '--quiet']);
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);
    expect(result.stderr).toBe(`archive-crypt: warning: skipping key ${other}: wrong passphrase for ${other} (or the key file is damaged)\n`);
  });

  it('tries every key before saying none matches (exit 3)', async () => {
    const result = await decrypt(['--key', other, '--passphrase-env', 'OTHER_PASS']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^archive-crypt: .*does not open the archive password/);
    const none = await decrypt(['--key', other, '--key', join(dir, 'missing.pem'), '--passphrase-env', 'FIXTURE_PASS']);
    expect(none.code).toBe(3);
    expect(none.stderr.trim().split('\n').at(-1)).toMatch(/^archive-crypt: none of the 2 keys could be opened: wrong passphrase for .*other\.pem.*; private key .*missing\.pem not found$/);
  });

  it('refuses a passphrase count that is neither one nor one per key (exit 2), before any key is read', async () => {
    const result = await decrypt(['--key', other, '--key', current, '--key', current, '--passphrase-env', 'OTHER_PASS', '--passphrase-env', 'FIXTURE_PASS']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('archive-crypt: 3 keys but 2 passphrase options: give one for all keys, or one per key in the order of the keys\n');
  });

  it('names the option of an unset variable', async () => {
    const result = await decrypt(['--key', other, '--key', current, '--passphrase-env', 'OTHER_PASS', '--passphrase-env', 'UNSET_PASS']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('archive-crypt: environment variable UNSET_PASS (from --passphrase-env number 2) is not set or empty\n');
  });

  it('without a passphrase or a terminal, names the encrypted key file (exit 3)', async () => {
    const result = await decrypt(['--key', current]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`archive-crypt: ${current} is encrypted: give its passphrase with --passphrase-env VAR or --passphrase-file FILE\n`);
  });
});

describe('the same rotation in unseal and reseal', () => {
  it('reseal opens the archive with the second key and unseal opens the result with per-key passphrases', async () => {
    const sealed = join(dir, 'rotated.sealed');
    const reseal = await runCliInProcess(
      ['reseal', fx.archive, '--key', other, '--key', current, '--passphrase-env', 'OTHER_PASS', '--passphrase-env', 'FIXTURE_PASS', '--password-file', fx.passwordFile, '--to', fx.certPem, '--output', sealed, '--quiet'],
      env,
    );
    expect(reseal.stderr).toBe('');
    expect(reseal.code).toBe(0);
    const unseal = await runCliInProcess(['unseal', sealed, '--key', other, '--key', current, '--passphrase-env', 'OTHER_PASS', '--passphrase-env', 'FIXTURE_PASS', '--output', '-', '--quiet'], env);
    expect(unseal.stderr).toBe('');
    expect(unseal.code).toBe(0);
    expect(unseal.stdoutBytes.equals(sample)).toBe(true);
  });
});
