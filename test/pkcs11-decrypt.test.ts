/**
 * Archives decrypted with keys on a real PKCS#11 token (SoftHSM2): a key made by openssl and imported
 * with softhsm2-util (the private key file then deleted) opens an archive that openssl encrypted to
 * its certificate; a keyring of a file key and a token key (rotation); a batch of archives unwrapped
 * concurrently on the one token session; the service's job processing on a token keyring; reseal and
 * the sealed format's SHA-256 OAEP refusal.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openKeyring } from '../src/keys/keyring.js';
import { processArchive } from '../src/service/process-archive.js';
import { openssl, runCli, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { useSoftHsm, type SoftHsm } from './support/softhsm.js';
import { encryptedArchive, passEnv, privateKeyCopy, vonageArchive, vonageFixture } from './support/vonage-fixture.js';
import { expectOneLineError } from './support/one-line-error.js';

const PIN = '135790';
const tokenKey = 'pkcs11:token=vault;object=imported';
let hsm: SoftHsm;
let dir: string;
let media: Buffer;
let env: NodeJS.ProcessEnv;
let tokenCert: string;
let fileKey: string;

beforeAll(async () => {
  hsm = await useSoftHsm();
  dir = await tempDir();
  media = await readFile(vonageFixture.sample);
  await hsm.initToken('vault', PIN);
  // The independent tools make the key pair: openssl the key and certificate, softhsm2-util the import.
  const keyFile = join(dir, 'openssl-key.pem');
  tokenCert = join(dir, 'token-cert.pem');
  await openssl(['req', '-new', '-x509', '-days', '30', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', tokenCert, '-subj', '/CN=token archive key']);
  await hsm.importKey('vault', PIN, keyFile, 'imported', '0a0b');
  await rm(keyFile); // From here on only the token holds the private key.
  fileKey = await privateKeyCopy(dir);
  env = { ...passEnv, TOKEN_PIN: PIN, ARCHIVE_CRYPT_PKCS11_MODULE: hsm.module };
});

/** An archive as openssl makes it with Vonage's recipe: pkeyutl OAEP (SHA-1) over the 51-byte blob, enc -aes-256-cbc. */
async function opensslArchive(name: string, certificate: string): Promise<{ archive: string; passwordFile: string }> {
  const key = createHash('sha256').update(`key ${name}`).digest();
  const iv = createHash('sha256').update(`iv ${name}`).digest().subarray(0, 16);
  const blob = join(dir, `${name}.blob`);
  await writeFile(blob, Buffer.concat([Buffer.from([1, 1, 1]), key, iv]));
  const publicKey = join(dir, `${name}.pub`);
  await writeFile(publicKey, (await openssl(['x509', '-in', certificate, '-pubkey', '-noout'])).stdout);
  const wrapped = (await openssl(['pkeyutl', '-encrypt', '-pubin', '-inkey', publicKey, '-pkeyopt', 'rsa_padding_mode:oaep', '-in', blob])).stdoutBytes;
  const archive = join(dir, `${name}.mp4`);
  await openssl(['enc', '-aes-256-cbc', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-in', vonageFixture.sample, '-out', archive]);
  const passwordFile = join(dir, `${name}.password`);
  await writeFile(passwordFile, wrapped.toString('base64'));
  return { archive, passwordFile };
}

describe('decrypt with a key on a token', () => {
  it('opens an archive openssl encrypted to the imported key\'s certificate, byte for byte', async () => {
    const { archive, passwordFile } = await opensslArchive('openssl', tokenCert);
    const output = join(dir, 'openssl.ts');
    const result = await runCliInProcess(['decrypt', archive, '--password-file', passwordFile, '--key', tokenKey, '--passphrase-env', 'TOKEN_PIN', '--output', output, '--quiet'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await readFile(output)).equals(media)).toBe(true);
    expect(result.stdout + result.stderr).not.toContain(PIN);
  });

  it('rotation: a keyring of a token key and a file key opens archives made for either', async () => {
    const forToken = await opensslArchive('rot-token', tokenCert);
    const forFile = await opensslArchive('rot-file', vonageFixture.certPem);
    // The token key comes first: its failed SHA-1 try and its missing SHA-256 OAEP must not stop the search.
    for (const [made, index] of [[forToken, 0], [forFile, 1]] as const) {
      const pinFile = join(dir, 'pin.txt');
      await writeFile(pinFile, PIN, { mode: 0o600 });
      const result = await runCliInProcess(
        ['decrypt', made.archive, '--password-file', made.passwordFile, '--key', `${tokenKey}?pin-source=file:${pinFile}`, '--key', fileKey, '--passphrase-env', 'FIXTURE_PASS', '--output', '-', '--json', '--quiet'],
        env,
      );
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stderr) as { key: { index: number; oaepHash: string } };
      expect(report.key).toMatchObject({ index, oaepHash: 'sha1' });
    }
  });

  it('a password for another key is exit 3 in one line, naming the missing SHA-256 OAEP', async () => {
    const forFile = await opensslArchive('other', vonageFixture.certPem);
    const result = await runCliInProcess(['decrypt', forFile.archive, '--password-file', forFile.passwordFile, '--key', tokenKey, '--passphrase-env', 'TOKEN_PIN', '--output', join(dir, 'never.ts')], env);
    expectOneLineError(result, 3, /^archive-crypt: the key does not open the archive password.*cannot do RSA-OAEP with SHA-256/);
    await expect(readFile(join(dir, 'never.ts'))).rejects.toThrow();
  });
});

describe('batch with a key on a token', () => {
  it('decrypts several archives at --concurrency 4 with the token key (one shared session)', async () => {
    const apiKey = '47000001';
    const bucket = uniqueName('hsm-batch');
    await createBucket(bucket);
    const ids = ['h-one', 'h-two', 'h-three', 'h-four'];
    const items = [];
    for (const id of ids) {
      const { body, item } = await encryptedArchive(id, media, apiKey, tokenCert);
      await putS3Object(bucket, `${apiKey}/${id}/archive.mp4`, body);
      items.push(item);
    }
    const list = join(dir, 'archives.json');
    await writeFile(list, JSON.stringify({ count: items.length, items }));
    const outDir = join(dir, 'batch-out');
    // A child process: the S3 client reads its credentials from the process environment.
    const result = await runCli(
      ['batch', '--archives', list, '--from', `s3://${bucket}`, '--out-dir', outDir, '--key', tokenKey, '--passphrase-env', 'TOKEN_PIN', '--concurrency', '4', '--quiet'],
      { env: { ...env, ...s3Env(), ...hsm.env } },
    );
    expect(result.stderr).toMatch(/4 decrypted, 0 verified, 0 skipped, 0 failed of 4 archives/);
    expect(result.code).toBe(0);
    for (const id of ids) expect((await readFile(join(outDir, `${id}.ts`))).equals(media)).toBe(true);
  });
});

describe('the service worker with a key on a token', () => {
  it('processes concurrent jobs with one keyring of a token key, as the worker opens it', async () => {
    const store = join(dir, 'store');
    const jobs = [];
    for (const archiveId of ['w-one', 'w-two', 'w-three']) {
      const { body, password } = await vonageArchive(media, tokenCert);
      await mkdir(join(store, 'p1', archiveId), { recursive: true });
      await writeFile(join(store, 'p1', archiveId, 'archive.mp4'), body);
      jobs.push({ project: 'p1', archiveId, password });
    }
    // What src/cli/commands/worker.ts does with service.keys: one keyring for the process, closed at the end.
    const keyring = await openKeyring([tokenKey], { pkcs11: { env: { ARCHIVE_CRYPT_PKCS11_MODULE: hsm.module }, pin: () => Promise.resolve(PIN) } });
    const destination = join(dir, 'service-out');
    try {
      const outcomes = await Promise.all(jobs.map((job) => processArchive(job, { action: 'decrypt', source: store, destination, recipients: [], keyring, storage: {} })));
      expect(outcomes.map((o) => o.result)).toEqual(['done', 'done', 'done']);
    } finally {
      await keyring.close();
    }
    for (const job of jobs) expect((await readFile(join(destination, 'p1', job.archiveId, 'archive.ts'))).equals(media)).toBe(true);
  });
});

describe('the sealed format with a key on a token', () => {
  it('reseal unwraps on the token; unseal for that key says the token lacks SHA-256 OAEP (exit 3)', async () => {
    const { archive, passwordFile } = await opensslArchive('reseal', tokenCert);
    const sealed = join(dir, 'reseal.sealed');
    const resealed = await runCliInProcess(['reseal', archive, '--password-file', passwordFile, '--key', tokenKey, '--passphrase-env', 'TOKEN_PIN', '--to', tokenCert, '--to', vonageFixture.certPem, '--output', sealed], env);
    expect(resealed.code, resealed.stderr).toBe(0);
    // The file key (a second recipient) unseals it; the token key cannot, and says why.
    const byFile = await runCliInProcess(['unseal', sealed, '--key', fileKey, '--passphrase-env', 'FIXTURE_PASS', '--output', '-'], env);
    expect(byFile.code, byFile.stderr).toBe(0);
    const byToken = await runCliInProcess(['unseal', sealed, '--key', tokenKey, '--passphrase-env', 'TOKEN_PIN', '--output', join(dir, 'unsealed.ts')], env);
    expect(byToken.code).toBe(3);
    expect(byToken.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^archive-crypt: token "vault" cannot do RSA-OAEP with SHA-256/)]);
    await expect(readFile(join(dir, 'unsealed.ts'))).rejects.toThrow();
  });
});
