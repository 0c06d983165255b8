/**
 * `keys inspect` gives Vonage's "certificate" value (base64 of the PEM) for any certificate — made by
 * openssl, signed by a CA, read from DER or PKCS#12 — and `--strict` turns Vonage's verdict into the
 * exit code; `keys check` warns when the certificate has expired or is about to. Every certificate
 * here is made by the openssl command line (a tiny CA through `openssl ca`, which sets explicit
 * start and end dates on OpenSSL 3.0).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';

const dir = await tempDir();
const path = (name: string) => join(dir, name);
const env = { P12_PASSPHRASE: 'bundle passphrase' };

/** A CA database for `openssl ca`, which (unlike `openssl x509` on 3.0) takes -startdate/-enddate. */
const caConfig = `
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}
serial = ${dir}/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
`;

async function caSign(csr: string, out: string, startDate: string, endDate: string): Promise<void> {
  await openssl(['ca', '-batch', '-notext', '-config', path('ca.cnf'), '-cert', path('ca.pem'), '-keyfile', path('ca-key.pem'), '-in', path(csr), '-out', path(out), '-startdate', startDate, '-enddate', endDate]);
}

beforeAll(async () => {
  await writeFile(path('ca.cnf'), caConfig);
  await writeFile(path('index.txt'), '');
  await writeFile(path('serial'), '1000\n');
  // Vonage's recipe, self-signed.
  await openssl(['req', '-new', '-x509', '-days', '365', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('self-key.pem'), '-out', path('self.pem'), '-subj', '/CN=self signed']);
  // A tiny CA and a leaf it signs.
  await openssl(['req', '-new', '-x509', '-days', '3650', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('ca-key.pem'), '-out', path('ca.pem'), '-subj', '/CN=Test Archive CA']);
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('leaf-key.pem'), '-out', path('leaf.csr'), '-subj', '/CN=archive leaf']);
  await openssl(['x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca-key.pem'), '-CAcreateserial', '-days', '365', '-out', path('leaf.pem')]);
  await openssl(['x509', '-in', path('leaf.pem'), '-outform', 'DER', '-out', path('leaf.der')]);
  await openssl(['pkcs12', '-export', '-inkey', path('leaf-key.pem'), '-in', path('leaf.pem'), '-passout', 'env:P12_PASSPHRASE', '-out', path('leaf.p12')], { env });
  // Out of their validity period: long expired, and not valid for years yet.
  await caSign('leaf.csr', 'expired.pem', '20200101000000Z', '20210101000000Z');
  await caSign('leaf.csr', 'future.pem', '20400101000000Z', '20410101000000Z');
  // Keys Vonage refuses.
  await openssl(['req', '-new', '-x509', '-days', '365', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('ec-key.pem'), '-out', path('ec.pem'), '-subj', '/CN=ec']);
  await openssl(['req', '-new', '-x509', '-days', '365', '-newkey', 'rsa:3072', '-nodes', '-keyout', path('rsa3072-key.pem'), '-out', path('rsa3072.pem'), '-subj', '/CN=rsa 3072']);
  // Valid now, but for only ten more days.
  await openssl(['req', '-new', '-x509', '-days', '10', '-key', path('self-key.pem'), '-out', path('soon.pem'), '-subj', '/CN=soon']);
  for (const name of ['self-key.pem', 'ca-key.pem', 'leaf-key.pem', 'leaf.p12', 'ec-key.pem', 'rsa3072-key.pem']) await chmod(path(name), 0o600);
});

interface Inspected {
  container: string;
  items: { kind: string; subject?: string; selfSigned?: boolean; vonageCertificate?: string; vonage: { accepted: boolean | null; reason: string } }[];
}

async function inspect(args: string[]) {
  const result = await runCliInProcess(['keys', 'inspect', ...args], env);
  return { ...result, report: args.includes('--json') && result.stdout !== '' ? (JSON.parse(result.stdout) as Inspected) : undefined };
}

const base64Of = async (name: string) => (await readFile(path(name))).toString('base64');

describe('keys inspect: the Vonage "certificate" value of any certificate', () => {
  it.each([
    ['self.pem', 'self.pem', true],
    ['leaf.pem', 'leaf.pem', false],
    ['leaf.der', 'leaf.pem', false],
  ])('%s gives base64 of the PEM file openssl wrote (%s)', async (file, pem, selfSigned) => {
    const { code, report, stderr } = await inspect([path(file), '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report!.items).toHaveLength(1);
    expect(report!.items[0]).toMatchObject({ kind: 'certificate', selfSigned, vonage: { accepted: true } });
    expect(report!.items[0]!.vonageCertificate).toBe(await base64Of(pem));
  });

  it('reads the certificate out of a PKCS#12 bundle and gives its value', async () => {
    const { code, report } = await inspect([path('leaf.p12'), '--json', '--passphrase-env', 'P12_PASSPHRASE']);
    expect(code).toBe(0);
    expect(report!.container).toBe('pkcs12');
    const certificate = report!.items.find((item) => item.kind === 'certificate')!;
    expect(certificate.vonageCertificate).toBe(await base64Of('leaf.pem'));
    // What Vonage receives is a PEM that openssl reads back as the same certificate.
    const decoded = Buffer.from(certificate.vonageCertificate!, 'base64').toString('utf8');
    const fingerprint = async (input: string) => (await openssl(['x509', '-noout', '-fingerprint', '-sha256'], { input })).stdout;
    expect(await fingerprint(decoded)).toBe(await fingerprint(await readFile(path('leaf.pem'), 'utf8')));
  });

  it('prints the value in the text report, on a line of its own to the end', async () => {
    const { code, stdout } = await inspect([path('leaf.der')]);
    expect(code).toBe(0);
    expect(stdout).toContain(`  Vonage cert: ${await base64Of('leaf.pem')}\n`);
  });
});

describe('keys inspect --strict', () => {
  it.each([
    ['expired.pem', 'the certificate has expired'],
    ['future.pem', 'the certificate is not valid yet'],
    ['ec.pem', 'Vonage needs an RSA key, this is ec'],
    ['rsa3072.pem', 'Vonage accepts RSA keys of 2048 bits at most, this has 3072'],
  ])('%s: reported with exit 0 without --strict, exit 3 with it', async (file, reason) => {
    const relaxed = await inspect([path(file), '--json']);
    expect(relaxed.code).toBe(0);
    expect(relaxed.stderr).toBe('');
    expect(relaxed.report!.items[0]!.vonage).toEqual({ accepted: false, reason });

    const strict = await inspect([path(file), '--json', '--strict']);
    expect(strict.code).toBe(3);
    // The report is still the one JSON document on stdout; the verdict is one line on stderr.
    expect(strict.report!.items[0]!.vonage).toEqual({ accepted: false, reason });
    expect(strict.stderr).toBe(`archive-crypt: Vonage would not accept ${path(file)}: ${reason}\n`);

    const text = await inspect([path(file), '--strict']);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/Vonage: +NOT accepted/);
  });

  it.each([['self.pem'], ['leaf.pem'], ['leaf.der']])('%s passes (exit 0)', async (file) => {
    const { code, stderr } = await inspect([path(file), '--strict']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('passes for a PKCS#12 bundle whose certificate Vonage accepts', async () => {
    const { code } = await inspect([path('leaf.p12'), '--strict', '--passphrase-env', 'P12_PASSPHRASE']);
    expect(code).toBe(0);
  });

  it('fails (exit 3) for a file with no certificate in it', async () => {
    const { code, stderr } = await inspect([path('leaf-key.pem'), '--strict']);
    expect(code).toBe(3);
    expect(stderr).toMatch(/^archive-crypt: \S+leaf-key\.pem holds no certificate: Vonage needs the X\.509 certificate .*\n$/);
  });
});

describe('keys check warns about the certificate\'s validity', () => {
  it.each([
    ['leaf-key.pem', 'expired.pem', /^archive-crypt: warning: \S+expired\.pem expired on 2021-01-01T00:00:00Z: Vonage will not take it; register a new one .*\n$/],
    ['leaf-key.pem', 'future.pem', /^archive-crypt: warning: \S+future\.pem not valid before 2040-01-01T00:00:00Z: .*\n$/],
    ['self-key.pem', 'soon.pem', /^archive-crypt: warning: \S+soon\.pem expires in (9|10) days \(\S+\): plan the rotation: .*\n$/],
  ])('%s with %s: matches (exit 0) and warns in one line', async (key, cert, warning) => {
    const result = await runCliInProcess(['keys', 'check', '--key', path(key), '--cert', path(cert)]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ matches /);
    expect(result.stderr).toMatch(warning);
  });

  it.each([['self-key.pem', 'self.pem'], ['leaf-key.pem', 'leaf.der']])('%s with %s (valid for a year): no warning', async (key, cert) => {
    const result = await runCliInProcess(['keys', 'check', '--key', path(key), '--cert', path(cert)]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ matches /);
    expect(result.stderr).toBe('');
  });
});
