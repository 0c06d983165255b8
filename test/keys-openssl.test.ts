/**
 * Keys and certificates made by the openssl command line, read by the toolkit (keys inspect, check,
 * csr), and our CSRs and reports judged by openssl.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../src/keys/certificate.js';
import { generateRsaKeyPair } from '../src/keys/generate.js';
import { parseSubject } from '../src/keys/subject.js';
import { openssl, runProgram, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';

const env = { ARCHIVE_TEST_PASSPHRASE: 'openssl made this' };
const passin = ['-passin', 'env:ARCHIVE_TEST_PASSPHRASE'];
const dir = await tempDir();
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  // Vonage's own recipe: an encrypted PKCS#8 key and a self-signed certificate.
  await openssl(
    ['req', '-new', '-x509', '-days', '365', '-newkey', 'rsa:2048', '-out', path('cert.pem'), '-keyout', path('key.pem'), '-passout', 'env:ARCHIVE_TEST_PASSPHRASE', '-subj', '/CN=vonage recipe/O=Example'],
    { env },
  );
  await openssl(['genrsa', '-traditional', '-out', path('pkcs1.pem'), '2048']);
  await openssl(['rsa', '-in', path('pkcs1.pem'), '-aes256', '-traditional', '-out', path('legacy-encrypted.pem'), '-passout', 'env:ARCHIVE_TEST_PASSPHRASE'], { env });
  await openssl(['req', '-new', '-x509', '-days', '30', '-key', path('pkcs1.pem'), '-out', path('pkcs1-cert.pem'), '-subj', '/CN=pkcs1']);
  await openssl(['pkcs12', '-export', '-inkey', path('key.pem'), '-in', path('cert.pem'), ...passin, '-passout', 'env:ARCHIVE_TEST_PASSPHRASE', '-out', path('default.p12')], { env });
  // The older PKCS#12 algorithms (PKCS#12 KDF + 3DES, SHA-1 MAC), still in OpenSSL 3's default provider.
  await openssl(
    ['pkcs12', '-export', '-inkey', path('key.pem'), '-in', path('cert.pem'), ...passin, '-passout', 'env:ARCHIVE_TEST_PASSPHRASE', '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1', '-out', path('3des.p12')],
    { env },
  );
  await openssl(['pkcs8', '-topk8', '-nocrypt', '-in', path('pkcs1.pem'), '-outform', 'DER', '-out', path('key.der')]);
  await openssl(['x509', '-in', path('cert.pem'), '-outform', 'DER', '-out', path('cert.der')]);
  await openssl(['req', '-new', '-key', path('pkcs1.pem'), '-subj', '/CN=openssl csr/O=Example', '-out', path('openssl.csr')]);
  for (const name of ['key.pem', 'pkcs1.pem', 'legacy-encrypted.pem', 'default.p12', '3des.p12', 'key.der']) await chmod(path(name), 0o600);
});

describe('keys check with keys made by openssl', () => {
  it.each([
    ['key.pem', 'cert.pem', true],
    ['pkcs1.pem', 'pkcs1-cert.pem', false],
    ['legacy-encrypted.pem', 'pkcs1-cert.pem', true],
    ['default.p12', 'cert.pem', true],
    ['3des.p12', 'cert.pem', true],
    ['key.der', 'pkcs1-cert.pem', false],
    ['key.pem', 'cert.der', true],
  ])('%s matches %s', async (key, cert, needsPassphrase) => {
    const args = ['keys', 'check', '--key', path(key), '--cert', path(cert), ...(needsPassphrase ? ['--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'] : [])];
    const result = await runCliInProcess(args, env);
    // pkcs1-cert.pem is valid for 30 days only: keys check says so (test/keys-vonage-certificate.test.ts).
    expect(result.stderr).toMatch(cert === 'pkcs1-cert.pem' ? /^archive-crypt: warning: \S+pkcs1-cert\.pem expires in (29|30) days .*\n$/ : /^$/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ matches .*public key SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\)\n$/);
  });

  it('exits 3 with one line when the key belongs to another certificate', async () => {
    const result = await runCliInProcess(['keys', 'check', '--key', path('pkcs1.pem'), '--cert', path('cert.pem')]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^archive-crypt: .*pkcs1\.pem does not belong to .*cert\.pem \(public key SHA-256 .* vs .*\)\n$/);
  });
});

describe('keys inspect', () => {
  it('reports a certificate like openssl does', async () => {
    const result = await runCliInProcess(['keys', 'inspect', path('cert.pem'), '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { container: string; items: Record<string, unknown>[] };
    const fingerprint = (await openssl(['x509', '-in', path('cert.pem'), '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1];
    const serial = (await openssl(['x509', '-in', path('cert.pem'), '-noout', '-serial'])).stdout.trim().split('=')[1];
    const endDate = (await openssl(['x509', '-in', path('cert.pem'), '-noout', '-enddate'])).stdout.trim().split('=')[1]!;
    const spki = (await openssl(['x509', '-in', path('cert.pem'), '-noout', '-pubkey'])).stdout;
    const spkiSha256 = (await openssl(['pkey', '-pubin', '-outform', 'DER'], { input: spki })).stdoutBytes;
    const { createHash } = await import('node:crypto');
    const keyFingerprint = (createHash('sha256').update(spkiSha256).digest('hex').toUpperCase().match(/../g) ?? []).join(':');
    expect(report.container).toBe('pem');
    expect(report.items).toHaveLength(1);
    expect(report.items[0]).toMatchObject({
      kind: 'certificate',
      subject: 'CN=vonage recipe, O=Example',
      issuer: 'CN=vonage recipe, O=Example',
      selfSigned: true,
      serialNumber: serial,
      notAfter: new Date(endDate).toISOString().replace('.000Z', 'Z'),
      key: { type: 'rsa', bits: 2048, publicKeySha256: keyFingerprint },
      fingerprintSha256: fingerprint,
      vonage: { accepted: true },
      warnings: [],
    });
    // Stable shape: the same keys in the same order every time.
    expect(Object.keys(report)).toEqual(['ok', 'file', 'container', 'items', 'warnings']);
    expect(Object.keys(report.items[0]!)).toEqual([
      'kind', 'subject', 'issuer', 'selfSigned', 'serialNumber', 'notBefore', 'notAfter', 'daysLeft', 'key', 'fingerprintSha256', 'vonageCertificate', 'vonage', 'warnings',
    ]);
  });

  it('prints a readable report with the same fingerprint', async () => {
    const result = await runCliInProcess(['keys', 'inspect', path('cert.der')]);
    expect(result.code).toBe(0);
    const fingerprint = (await openssl(['x509', '-in', path('cert.pem'), '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1]!;
    expect(result.stdout).toContain('(DER)');
    expect(result.stdout).toContain(`SHA-256:     ${fingerprint}`);
    expect(result.stdout).toMatch(/Vonage: +accepted: RSA 2048 bits, valid until/);
  });

  it.each([
    ['key.pem', false, { kind: 'private-key', encoding: 'pkcs8', encrypted: true, key: { type: null, bits: null }, vonage: { accepted: null } }],
    ['key.pem', true, { kind: 'private-key', encoding: 'pkcs8', encrypted: true, key: { type: 'rsa', bits: 2048 }, vonage: { accepted: true } }],
    ['legacy-encrypted.pem', false, { kind: 'private-key', encoding: 'pkcs1', encrypted: true, key: { type: 'rsa', bits: null } }],
    ['legacy-encrypted.pem', true, { kind: 'private-key', encoding: 'pkcs1', encrypted: true, key: { type: 'rsa', bits: 2048 } }],
    ['pkcs1.pem', false, { kind: 'private-key', encoding: 'pkcs1', encrypted: false, key: { type: 'rsa', bits: 2048 } }],
    ['key.der', false, { kind: 'private-key', encoding: 'der-pkcs8', encrypted: false, key: { type: 'rsa', bits: 2048 } }],
    ['openssl.csr', false, { kind: 'csr', subject: 'CN=openssl csr, O=Example', signatureValid: true, key: { type: 'rsa', bits: 2048 }, vonage: { accepted: false } }],
  ])('describes %s (passphrase given: %s)', async (name, withPassphrase, expected) => {
    const args = ['keys', 'inspect', path(name), '--json', ...(withPassphrase ? ['--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'] : [])];
    const result = await runCliInProcess(args, env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { items: unknown[] };
    expect(report.items).toHaveLength(1);
    expect(report.items[0]).toMatchObject(expected);
  });

  it.each(['default.p12', '3des.p12'])('opens the PKCS#12 bundle %s with its passphrase', async (name) => {
    const result = await runCliInProcess(['keys', 'inspect', path(name), '--json', '--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'], env);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { container: string; items: { kind: string; key: { publicKeySha256: string } }[] };
    expect(report.container).toBe('pkcs12');
    expect(report.items.map((i) => i.kind)).toEqual(['certificate', 'private-key']);
    expect(report.items[0]!.key.publicKeySha256).toBe(report.items[1]!.key.publicKeySha256);
  });

  it('warns about a certificate that expires within 30 days', async () => {
    const result = await runCliInProcess(['keys', 'inspect', path('pkcs1-cert.pem')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/warning: expires in (29|30) days/);
  });

  it('warns about an expired certificate and says Vonage will not accept it', async () => {
    const { privateKey, publicKey } = await generateRsaKeyPair(2048);
    const pem = await createSelfSignedCertificate({ privateKey, publicKey, subject: parseSubject('CN=old'), days: 10, notBefore: new Date(Date.now() - 20 * 86_400_000) });
    await writeFile(path('expired.pem'), pem);
    const checkend = await runProgram('openssl', ['x509', '-in', path('expired.pem'), '-noout', '-checkend', '0']);
    expect(checkend.stdout.trim()).toBe('Certificate will expire');
    expect(checkend.code).toBe(1);
    const result = await runCliInProcess(['keys', 'inspect', path('expired.pem'), '--json']);
    const item = (JSON.parse(result.stdout) as { items: { warnings: string[]; vonage: { accepted: boolean; reason: string }; daysLeft: number }[] }).items[0]!;
    expect(item.warnings[0]).toMatch(/^expired on /);
    expect(item.vonage).toEqual({ accepted: false, reason: 'the certificate has expired' });
    expect(item.daysLeft).toBeLessThan(0);
  });

  it('describes every block of a PEM bundle, warns about an unencrypted key and refuses a readable one', async () => {
    const bundle = (await readFile(path('pkcs1-cert.pem'), 'utf8')) + (await readFile(path('pkcs1.pem'), 'utf8'));
    await writeFile(path('bundle.pem'), bundle, { mode: 0o600 });
    await chmod(path('bundle.pem'), 0o600);
    const result = await runCliInProcess(['keys', 'inspect', path('bundle.pem'), '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { items: { kind: string; warnings: string[] }[]; warnings: string[] };
    expect(report.items.map((i) => i.kind)).toEqual(['certificate', 'private-key']);
    expect(report.items[1]!.warnings.join('\n')).toMatch(/not encrypted/);
    // The same key-permission rule as every other command: refused, not merely warned about.
    await chmod(path('bundle.pem'), 0o644);
    const loose = await runCliInProcess(['keys', 'inspect', path('bundle.pem'), '--json']);
    expect(loose.code).toBe(3);
    expect(loose.stderr).toMatch(/^archive-crypt: private key \S+ is accessible by group or others \(mode 644\): run chmod 600 \S+\n$/);
  });
});

describe('keys csr', () => {
  it.each([
    ['key.pem', true],
    ['pkcs1.pem', false],
    ['default.p12', true],
  ])('makes a CSR from %s that openssl req -verify accepts', async (key, needsPassphrase) => {
    const output = path(`${key}.csr`);
    const args = ['keys', 'csr', '--key', path(key), '--subject', 'CN=Archive key,O=Example Ltd,C=GB', '--output', output];
    const result = await runCliInProcess([...args, ...(needsPassphrase ? ['--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'] : [])], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const verified = await openssl(['req', '-in', output, '-verify', '-noout', '-subject']);
    expect(verified.stderr).toMatch(/verify OK/i);
    expect(verified.stdout.trim()).toBe('subject=CN = Archive key, O = Example Ltd, C = GB');
    const text = (await openssl(['req', '-in', output, '-noout', '-text'])).stdout;
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    // The CSR carries the key's public key.
    const fromCsr = (await openssl(['req', '-in', output, '-noout', '-pubkey'])).stdout;
    const fromKey = (await openssl(['pkey', '-in', path(key), ...(key.endsWith('.p12') ? [] : passin), '-pubout'], { env }).catch(async () =>
      openssl(['pkcs12', '-in', path(key), ...passin, '-nocerts', '-nodes'], { env }).then((r) => openssl(['pkey', '-pubout'], { input: r.stdout })),
    )).stdout;
    expect(fromCsr).toBe(fromKey);
    const inspected = await runCliInProcess(['keys', 'inspect', output, '--json']);
    expect((JSON.parse(inspected.stdout) as { items: { signatureValid: boolean }[] }).items[0]!.signatureValid).toBe(true);
  });

  it('never overwrites the output (exit 6) and leaves the file as it was', async () => {
    await writeFile(path('taken.csr'), 'already here');
    const result = await runCliInProcess(['keys', 'csr', '--key', path('pkcs1.pem'), '--subject', 'CN=x', '--output', path('taken.csr')]);
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(/^archive-crypt: .*taken\.csr already exists.*\n$/);
    expect(await readFile(path('taken.csr'), 'utf8')).toBe('already here');
  });
});
