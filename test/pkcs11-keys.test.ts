/**
 * Keys on a real PKCS#11 token (SoftHSM2): `keys generate --pkcs11`, `keys inspect|csr|check` with a
 * `pkcs11:` key, PIN sources and refusals, judged by openssl and OpenSC's pkcs11-tool; the library's
 * token handle (one session per token, OAEP on the token) and the URI parser.
 */
import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeyError, UsageError } from '../src/errors.js';
import { openPkcs11Key } from '../src/keys/pkcs11.js';
import { parsePkcs11Uri } from '../src/keys/pkcs11-uri.js';
import { openssl, repoRoot, runProgram, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { useSoftHsm, type SoftHsm } from './support/softhsm.js';
import { oneErrorLine } from './support/one-line-error.js';

const PIN = '246813';
let hsm: SoftHsm;
let dir: string;
let env: NodeJS.ProcessEnv;
const generatedUri = 'pkcs11:token=archive;object=archive-2026';

beforeAll(async () => {
  hsm = await useSoftHsm();
  dir = await tempDir();
  await hsm.initToken('archive', PIN);
  env = { TOKEN_PIN: PIN, ARCHIVE_CRYPT_PKCS11_MODULE: hsm.module };
  const made = await runCliInProcess(['keys', 'generate', '--out', join(dir, 'gen'), '--pkcs11', generatedUri, '--subject', 'CN=Token key,O=Example', '--passphrase-env', 'TOKEN_PIN'], env);
  expect(made.stderr).toBe('');
  expect(made.code).toBe(0);
});

describe('keys generate --pkcs11', () => {
  it('writes only a certificate that openssl reads as the file keys profile and verifies', async () => {
    expect(await readdir(join(dir, 'gen'))).toEqual(['archive-certificate.pem']);
    const cert = join(dir, 'gen', 'archive-certificate.pem');
    const text = (await openssl(['x509', '-in', cert, '-noout', '-text'])).stdout;
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toContain('Subject: CN = Token key, O = Example');
    expect((await openssl(['verify', '-CAfile', cert, cert])).stdout).toContain(': OK');
  });

  it('leaves a sensitive, never-extractable private key and the certificate on the token (pkcs11-tool)', async () => {
    const listing = (await hsm.pkcs11Tool(['--token-label', 'archive', '--login', '--pin', PIN, '--list-objects'])).stdout;
    const privateKey = /Private Key Object; RSA[\s\S]*?Access:\s+([^\n]+)/.exec(listing);
    expect(privateKey?.[1]).toContain('sensitive');
    expect(privateKey?.[1]).toContain('never extractable');
    expect(privateKey?.[1]).not.toMatch(/(^|, )extractable/);
    expect(listing).toMatch(/Certificate Object; type = X\.509 cert\s+label:\s+archive-2026/);
    // The certificate on the token is the file's, byte for byte.
    const id = /Private Key Object[\s\S]*?ID:\s+([0-9a-f]+)/.exec(listing)![1]!;
    const onToken = join(dir, 'token-cert.der');
    await hsm.pkcs11Tool(['--token-label', 'archive', '--read-object', '--type', 'cert', '--id', id, '--output-file', onToken]);
    const fromFile = (await openssl(['x509', '-in', join(dir, 'gen', 'archive-certificate.pem'), '-outform', 'DER'])).stdoutBytes;
    expect((await readFile(onToken)).equals(fromFile)).toBe(true);
  });

  it('refuses an object label that exists (exit 6) and writes nothing', async () => {
    const again = await runCliInProcess(['keys', 'generate', '--out', join(dir, 'again'), '--pkcs11', generatedUri, '--passphrase-env', 'TOKEN_PIN'], env);
    expect(again.code).toBe(6);
    expect(oneErrorLine(again.stderr)).toContain('already holds an object matching pkcs11:token=archive;object=archive-2026');
    await expect(readdir(join(dir, 'again'))).rejects.toThrow();
  });
});

describe('keys inspect, csr and check with a pkcs11: key', () => {
  it('inspect --json reports the size, protection, uses and the stored certificate', async () => {
    const result = await runCliInProcess(['keys', 'inspect', generatedUri, '--json', '--passphrase-env', 'TOKEN_PIN'], env);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { container: string; items: { kind: string; key: { bits: number }; token?: Record<string, unknown>; fingerprintSha256?: string }[] };
    expect(report.container).toBe('pkcs11');
    const [key, cert] = report.items;
    expect(key?.key.bits).toBe(2048);
    expect(key?.token).toMatchObject({ sensitive: true, extractable: false, neverExtractable: true, local: true, uses: ['decrypt', 'sign'] });
    const fingerprint = (await openssl(['x509', '-in', join(dir, 'gen', 'archive-certificate.pem'), '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1];
    expect(cert).toMatchObject({ kind: 'certificate', fingerprintSha256: fingerprint });
  });

  it('csr is signed on the token and openssl req -verify accepts it', async () => {
    const csr = join(dir, 'token.csr');
    const result = await runCliInProcess(['keys', 'csr', '--key', generatedUri, '--subject', 'CN=Token CSR', '--output', csr, '--passphrase-env', 'TOKEN_PIN'], env);
    expect(result.code).toBe(0);
    const verified = await openssl(['req', '-in', csr, '-noout', '-verify']);
    expect(verified.stderr + verified.stdout).toMatch(/verify OK/i);
    const csrKey = (await openssl(['req', '-in', csr, '-noout', '-pubkey'])).stdout;
    const certKey = (await openssl(['x509', '-in', join(dir, 'gen', 'archive-certificate.pem'), '-noout', '-pubkey'])).stdout;
    expect(csrKey).toBe(certKey);
  });

  it('check accepts the token key with its certificate (exit 0) and refuses another certificate (exit 3)', async () => {
    const ok = await runCliInProcess(['keys', 'check', '--key', generatedUri, '--cert', join(dir, 'gen', 'archive-certificate.pem'), '--passphrase-env', 'TOKEN_PIN'], env);
    expect(ok.stdout).toContain('unwraps on the token');
    expect(ok.code).toBe(0);
    await openssl(['req', '-new', '-x509', '-days', '1', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'other.key'), '-out', join(dir, 'other.pem'), '-subj', '/CN=other']);
    const wrong = await runCliInProcess(['keys', 'check', '--key', generatedUri, '--cert', join(dir, 'other.pem'), '--passphrase-env', 'TOKEN_PIN'], env);
    expect(wrong.code).toBe(3);
    expect(oneErrorLine(wrong.stderr)).toContain('does not belong to');
  });
});

describe('PIN, module and object refusals', () => {
  it('a wrong PIN is exit 3, printed nowhere, and the token still opens with the right one (not locked)', async () => {
    const wrong = await runCliInProcess(['keys', 'inspect', generatedUri, '--passphrase-env', 'TOKEN_PIN'], { ...env, TOKEN_PIN: '999999' });
    expect(wrong.code).toBe(3);
    expect(oneErrorLine(wrong.stderr)).toContain('wrong PIN for token "archive"');
    expect(wrong.stderr + wrong.stdout).not.toContain('999999');
    const right = await runCliInProcess(['keys', 'inspect', generatedUri, '--passphrase-env', 'TOKEN_PIN'], env);
    expect(right.code).toBe(0);
    expect(right.stdout + right.stderr).not.toContain(PIN);
    await hsm.pkcs11Tool(['--token-label', 'archive', '--login', '--pin', PIN, '--list-objects']);
  });

  it('takes the PIN from the URI\'s pin-source file', async () => {
    const pinFile = join(dir, 'pin');
    await writeFile(pinFile, `${PIN}\n`, { mode: 0o600 });
    const result = await runCliInProcess(['keys', 'inspect', `${generatedUri}?pin-source=file:${pinFile}`], { ARCHIVE_CRYPT_PKCS11_MODULE: hsm.module });
    expect(result.code).toBe(0);
  });

  it.each([
    ['no object', 'pkcs11:token=archive;object=nothing-here', 3, 'no private key on token "archive" matches pkcs11:token=archive;object=nothing-here'],
    ['two objects', 'pkcs11:token=archive;type=private', 3, 'several private keys on token "archive" match pkcs11:token=archive;type=private'],
    ['no token', 'pkcs11:token=elsewhere;object=x', 3, 'no token matches pkcs11:token=elsewhere;object=x'],
    ['a PIN in the URI', 'pkcs11:token=archive;object=archive-2026?pin-value=1234', 2, 'pin-value is refused'],
  ])('%s: %s gives exit %i naming the URI', async (_name, uri, code, message) => {
    if (_name === 'two objects') await hsm.pkcs11Tool(['--token-label', 'archive', '--login', '--pin', PIN, '--keypairgen', '--key-type', 'rsa:2048', '--label', 'second', '--id', '02']);
    const result = await runCliInProcess(['keys', 'inspect', uri, '--passphrase-env', 'TOKEN_PIN'], env);
    expect(oneErrorLine(result.stderr)).toContain(message);
    expect(result.code).toBe(code);
  });

  it('a module that is missing, or none at all, is one clear line', async () => {
    const missing = await runCliInProcess(['keys', 'inspect', generatedUri, '--pkcs11-module', join(dir, 'no-such-module.so'), '--passphrase-env', 'TOKEN_PIN'], { TOKEN_PIN: PIN });
    expect(missing.code).toBe(3);
    expect(oneErrorLine(missing.stderr)).toContain(`cannot load PKCS#11 module ${join(dir, 'no-such-module.so')}: cannot open shared object file`);
    const none = await runCliInProcess(['keys', 'inspect', generatedUri, '--passphrase-env', 'TOKEN_PIN'], { TOKEN_PIN: PIN });
    expect(none.code).toBe(2);
    expect(oneErrorLine(none.stderr)).toContain('give --pkcs11-module PATH');
  });
});

describe('an install where the optional binding did not build', () => {
  it('still runs, and a pkcs11: key gives one line saying how to install it (exit 3)', async () => {
    // A copy of the built package whose node_modules has every package but pkcs11js, as npm leaves it
    // when an optional dependency fails to build.
    const install = await tempDir('archive-crypt-no-pkcs11js-');
    for (const part of ['bin', 'dist', 'package.json']) await cp(join(repoRoot, part), join(install, part), { recursive: true });
    await mkdir(join(install, 'node_modules'));
    for (const name of await readdir(join(repoRoot, 'node_modules'))) {
      if (name !== 'pkcs11js') await symlink(join(repoRoot, 'node_modules', name), join(install, 'node_modules', name));
    }
    const cli = join(install, 'bin', 'archive-crypt.js');
    const fileKeys = await runProgram(process.execPath, [cli, 'keys', 'inspect', join(dir, 'gen', 'archive-certificate.pem')], { cwd: install });
    expect(fileKeys.stdout).toContain('certificate');
    expect(fileKeys.code).toBe(0);
    const result = await runProgram(process.execPath, [cli, 'keys', 'inspect', generatedUri, '--passphrase-env', 'TOKEN_PIN'], { cwd: install, env: { ...env, ...hsm.env } });
    expect(oneErrorLine(result.stderr)).toContain('PKCS#11 keys need the optional package pkcs11js, which is not installed or did not build here');
    expect(result.code).toBe(3);
  });
});

describe('the token key handle', () => {
  it('shares one session (one PIN request) across handles and serialises concurrent unwraps', async () => {
    let asked = 0;
    const options = { module: hsm.module, pin: () => Promise.resolve((asked++, PIN)) };
    const [a, b] = await Promise.all([openPkcs11Key(generatedUri, options), openPkcs11Key(`${generatedUri};type=private`, options)]);
    expect(asked).toBe(1);
    const blobs = Array.from({ length: 12 }, () => randomBytes(51));
    const wrapped = blobs.map((blob) => publicEncrypt({ key: a.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, blob));
    const opened = await Promise.all(wrapped.map((w, i) => (i % 2 ? a : b).decryptOaep(w, 'sha1')));
    expect(opened.map((o, i) => o?.equals(blobs[i]!))).toEqual(blobs.map(() => true));
    // A wrong key's or hash's ciphertext is "not this key" (undefined), so a keyring moves on.
    const sha256Wrapped = publicEncrypt({ key: a.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, blobs[0]!);
    expect(await a.decryptOaep(sha256Wrapped, 'sha1')).toBeUndefined();
    // SoftHSM 2.6 has no SHA-256 OAEP: a clear KeyError, not an obscure failure.
    await expect(a.decryptOaep(sha256Wrapped, 'sha256', Buffer.from('archive-crypt/v1'))).rejects.toThrow(/cannot do RSA-OAEP with SHA-256/);
    await expect(a.decryptOaep(sha256Wrapped, 'sha256')).rejects.toBeInstanceOf(KeyError);
    await a.close();
    expect((await b.decryptOaep(wrapped[0]!, 'sha1'))?.equals(blobs[0]!)).toBe(true); // b still holds the session.
    await b.close();
    await expect(b.decryptOaep(wrapped[0]!, 'sha1')).rejects.toThrow(/closed/);
  });
});

describe('PKCS#11 URIs (RFC 7512)', () => {
  it.each([
    ['pkcs11:token=My%20Token;object=key%2d1;id=%01%ff', { token: 'My Token', object: 'key-1', id: Buffer.from([1, 255]) }],
    ['pkcs11:serial=abc;slot-id=3;type=private?module-path=/opt/hsm.so&pin-source=file:/run/pin', { serial: 'abc', slotId: 3, type: 'private', modulePath: '/opt/hsm.so', pinFile: '/run/pin' }],
    ['PKCS11:object=k?pin-source=file:///etc/pin', { object: 'k', pinFile: '/etc/pin' }],
    ['pkcs11:', {}],
  ])('%s', (text, expected) => {
    expect(parsePkcs11Uri(text)).toEqual({ text, ...expected });
  });

  it.each([
    ['pkcs11:token=a;token=b', 'given twice'],
    ['pkcs11:colour=red', 'unknown attribute "colour"'],
    ['pkcs11:object=%zz', 'bad percent-encoding'],
    ['pkcs11:object=a?pin-value=1234', 'pin-value is refused'],
    ['pkcs11:object=a?pin-source=|/bin/echo', 'pin-source must be file:PATH'],
    ['pkcs11:type=secret', 'type must be one of'],
    ['pkcs11:token', 'has no value'],
    ['file.pem', 'is not a PKCS#11 URI'],
  ])('%s is a usage error', (text, message) => {
    expect(() => parsePkcs11Uri(text)).toThrow(UsageError);
    expect(() => parsePkcs11Uri(text)).toThrow(message);
  });
});
