/**
 * The configuration file (docs/CONFIG.md): validated with messages naming the field and the file (exit
 * 2), storage settings and credential variable names used against the real S3 emulator, the keyring
 * with a passphrase source per key, recipients, the plaintext-file policy, and flags overriding the
 * file. Runs the CLI in process.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { UsageError } from '../src/errors.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Credentials, uniqueName } from './support/emulators.js';
import { passEnv, fixtureWorkspace, vonageFixture as fx } from './support/vonage-fixture.js';
import { expectOneLineError } from './support/one-line-error.js';

const { dir, key, sample } = await fixtureWorkspace();

async function configFile(name: string, config: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

/** Every refusal is one `archive-crypt:` line naming the file and the field. */
const invalid: { name: string; config: unknown; message: RegExp }[] = [
  { name: 'a secret pasted in', config: { storage: { s3: { secretAccessKey: 'abc' } } }, message: /unknown field storage\.s3\.secretAccessKey .*never secrets/ },
  { name: 'a passphrase instead of a variable name', config: { keyring: [{ path: 'k.pem', passphraseEnv: 'my pass phrase' }] }, message: /keyring\[0\]\.passphraseEnv: must be the name of an environment variable/ },
  { name: 'a key with neither path nor uri', config: { keyring: [{ passphraseEnv: 'P' }] }, message: /keyring\[0\]: give either "path" or "uri"/ },
  { name: 'a key with two passphrase sources', config: { keyring: [{ path: 'k.pem', passphraseEnv: 'P', passphraseFile: 'p.txt' }] }, message: /keyring\[0\]: give passphraseEnv or passphraseFile, not both/ },
  { name: 'a non-pkcs11 uri', config: { keyring: [{ uri: 'file:k.pem' }] }, message: /keyring\[0\]\.uri: must be a pkcs11: URI/ },
  { name: 'a bad policy', config: { policy: { plaintextFiles: 'maybe' } }, message: /policy\.plaintextFiles:/ },
  { name: 'a part size out of range', config: { download: { partSize: '1k' } }, message: /download\.partSize: must be a size from 64KiB to 1GiB/ },
  { name: 'zero concurrency', config: { download: { concurrency: 0 } }, message: /download\.concurrency:/ },
  { name: 'an endpoint that is not a URL', config: { storage: { s3: { endpoint: 'ftp://x' } } }, message: /storage\.s3\.endpoint: must be an http\(s\) URL/ },
  { name: 'half the S3 credential names', config: { storage: { s3: { accessKeyIdEnv: 'ID' } } }, message: /storage\.s3: give both accessKeyIdEnv and secretAccessKeyEnv/ },
  { name: 'not an object', config: '[1]', message: /expected object/ },
  { name: 'not JSON', config: '{"storage": ', message: /is not valid JSON/ },
];

describe('config file validation', () => {
  it.each(invalid)('refuses $name with exit 2, naming the file and field', async ({ name, config, message }) => {
    const path = await configFile(`${name.replace(/\W+/g, '-')}.json`, config);
    const result = await runCliInProcess(['--config', path, 'decrypt', fx.archive, '--key', key, '--passphrase-env', 'FIXTURE_PASS', '--password-file', fx.passwordFile], passEnv);
    expectOneLineError(result, 2, message);
    expect(result.stderr.startsWith(`archive-crypt: config file ${path}`)).toBe(true);
    expect(result.stdout).toBe('');
  });

  it('names a missing file and where its name came from', async () => {
    const missing = join(dir, 'absent.json');
    const fromEnv = await runCliInProcess(['keys', 'inspect', fx.certPem], { ARCHIVE_CRYPT_CONFIG: missing });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toBe(`archive-crypt: cannot read the config file ${missing} (from ARCHIVE_CRYPT_CONFIG): ENOENT\n`);
    await expect(loadConfig(missing, {})).rejects.toThrow(UsageError);
  });

  it('resolves relative paths against the file, and loads without the command line', async () => {
    const config = parseConfig(JSON.stringify({ keyring: [{ path: 'keys/a.pem', passphraseFile: 'a.txt' }, { uri: 'pkcs11:token=t;object=o' }], recipients: ['c.pem'], download: { partSize: '8MiB' } }), '/etc/archive-crypt/config.json');
    expect(config.keyring).toEqual([{ path: '/etc/archive-crypt/keys/a.pem', passphraseFile: '/etc/archive-crypt/a.txt' }, { uri: 'pkcs11:token=t;object=o' }]);
    expect(config.recipients).toEqual(['/etc/archive-crypt/c.pem']);
    expect(config.download?.partSize).toBe(8 * 1024 * 1024);
    expect(await loadConfig(undefined, {})).toEqual({ file: undefined, config: {} });
  });
});

describe('config file in use', () => {
  it('supplies the keyring with each key its own passphrase source', async () => {
    const path = await configFile('keyring.json', { keyring: [{ path: key, passphraseEnv: 'FIXTURE_PASS' }] });
    const result = await runCliInProcess(['decrypt', fx.archive, '--password-file', fx.passwordFile, '--output', '-', '--quiet'], { ...passEnv, ARCHIVE_CRYPT_CONFIG: path });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);
  });

  it('a --key on the command line replaces the configured keyring', async () => {
    const path = await configFile('bad-keyring.json', { keyring: [{ path: join(dir, 'no-such-key.pem') }] });
    const overridden = await runCliInProcess(['--config', path, 'decrypt', fx.archive, '--key', key, '--passphrase-env', 'FIXTURE_PASS', '--password-file', fx.passwordFile, '--quiet'], passEnv);
    expect(overridden.stderr).toBe('');
    expect(overridden.code).toBe(0);
    const fromFile = await runCliInProcess(['--config', path, 'decrypt', fx.archive, '--password-file', fx.passwordFile], passEnv);
    expect(fromFile.code).toBe(3);
    expect(fromFile.stderr).toMatch(/no-such-key\.pem not found/);
  });

  it('policy.plaintextFiles "deny" refuses a named plaintext output (exit 6) and leaves stdout allowed', async () => {
    const path = await configFile('deny.json', { policy: { plaintextFiles: 'deny' }, keyring: [{ path: key, passphraseEnv: 'FIXTURE_PASS' }] });
    const output = join(dir, 'denied.ts');
    const refused = await runCliInProcess(['--config', path, 'decrypt', fx.archive, '--password-file', fx.passwordFile, '--output', output], passEnv);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/^archive-crypt: plaintext files are not allowed here/);
    await expect(readFile(output)).rejects.toThrow(/ENOENT/);
    const streamed = await runCliInProcess(['--config', path, 'decrypt', fx.archive, '--password-file', fx.passwordFile, '--output', '-'], passEnv);
    expect(streamed.code).toBe(0);
    expect(streamed.stdoutBytes.equals(sample)).toBe(true);
  });

  it('recipients are the default --to of seal', async () => {
    const path = await configFile('recipients.json', { recipients: [fx.certPem], keyring: [{ path: key, passphraseEnv: 'FIXTURE_PASS' }] });
    const sealed = join(dir, 'sample.sealed');
    const seal = await runCliInProcess(['--config', path, 'seal', fx.sample, '--output', sealed, '--quiet'], passEnv);
    expect(seal.stderr).toBe('');
    expect(seal.code).toBe(0);
    const unseal = await runCliInProcess(['--config', path, 'unseal', sealed, '--output', '-', '--quiet'], passEnv);
    expect(unseal.code).toBe(0);
    expect(unseal.stdoutBytes.equals(sample)).toBe(true);
    const none = await runCliInProcess(['seal', fx.sample, '--output', join(dir, 'other.sealed')], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give at least one recipient certificate with --to CERT \(or "recipients" in the config file\)/);
  });

  it('storage: endpoint, region and credential variable names reach the S3 emulator; a flag overrides the endpoint', async () => {
    const bucket = uniqueName('config');
    const objectKey = `123456/${fx.archiveId}/archive.mp4`;
    await createBucket(bucket);
    await putS3Object(bucket, objectKey, await readFile(fx.archive));
    const path = await configFile('storage.json', {
      storage: { s3: { endpoint: inject('s3Endpoint'), region: 'us-east-1', accessKeyIdEnv: 'ARCHIVE_ID', secretAccessKeyEnv: 'ARCHIVE_SECRET' } },
      download: { partSize: '64KiB', concurrency: 2, retries: 0 },
      keyring: [{ path: key, passphraseEnv: 'FIXTURE_PASS' }],
    });
    // Only the variables the file names: no AWS_* at all in this environment.
    const env = { ...passEnv, ARCHIVE_ID: s3Credentials.accessKeyId, ARCHIVE_SECRET: s3Credentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true' };
    const source = `s3://${bucket}/${objectKey}`;
    const result = await runCliInProcess(['--config', path, 'decrypt', source, '--archive-json', fx.archiveJson, '--output', '-', '--quiet'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(sample)).toBe(true);

    const unset = await runCliInProcess(['--config', path, 'decrypt', source, '--archive-json', fx.archiveJson], { ...passEnv });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/^archive-crypt: environment variable ARCHIVE_ID \(storage\.s3\.accessKeyIdEnv of .*storage\.json\) is not set or empty\n$/);

    // The flag wins: a closed loopback port instead of the emulator fails as storage (exit 5).
    const overridden = await runCliInProcess(['--config', path, 'decrypt', source, '--archive-json', fx.archiveJson, '--s3-endpoint', 'http://127.0.0.1:9'], env);
    expect(overridden.code).toBe(5);
  });
});
