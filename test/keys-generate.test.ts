/**
 * `keys generate`, judged by the openssl command line. One 2048-bit key set (with PKCS#12) is made
 * in beforeAll and shared by the read-back checks; the refusals never generate anything.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliPath, openssl, runProgram, tempDir } from './support/helpers.js';
import { runCliInProcess, type InProcessResult } from './support/cli-in-process.js';
import { expectOneLineError } from './support/one-line-error.js';

/** The first line of a PEM block; built from its label so no key-like literal sits in the source. */
const pemBeginLine = (label: string) => `${'-'.repeat(5)}BEGIN ${label}${'-'.repeat(5)}`;

const passphrase = 'correct horse battery staple';
const env = { ARCHIVE_TEST_PASSPHRASE: passphrase };
const root = await tempDir();
const out = join(root, 'new', 'keys');
const keyPath = join(out, 'archive-private-key.pem');
const certPath = join(out, 'archive-certificate.pem');
const p12Path = join(out, 'archive-key.p12');
let generated: InProcessResult;

beforeAll(async () => {
  generated = await runCliInProcess(['keys', 'generate', '--out', out, '--subject', 'CN=Archive key,O=Example\\, Ltd,C=GB', '--days', '90', '--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE', '--pkcs12'], env);
});

describe('keys generate', () => {
  it('succeeds and prints what Vonage needs', () => {
    expect(generated.stderr).toBe('');
    expect(generated.code).toBe(0);
    expect(generated.stdout).toContain(`Wrote ${keyPath}`);
    expect(generated.stdout).toContain('PUT https://api.opentok.com/v2/project/<apiKey>/archive/storage');
    expect(generated.stdout).toMatch(/Valid: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(90 days\)/);
  });

  it('writes the key 0600 in a new folder 0700, and only the three files', async () => {
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(p12Path)).mode & 0o777).toBe(0o600);
    expect((await stat(out)).mode & 0o777).toBe(0o700);
    expect((await readdir(out)).sort()).toEqual(['archive-certificate.pem', 'archive-key.p12', 'archive-private-key.pem']);
  });

  it('prints the SHA-256 fingerprint that openssl computes', async () => {
    const { stdout } = await openssl(['x509', '-in', certPath, '-noout', '-fingerprint', '-sha256']);
    const fingerprint = stdout.trim().split('=')[1];
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(generated.stdout).toContain(`SHA-256 fingerprint: ${fingerprint}`);
  });

  it('prints the certificate value as base64 of the whole PEM file', async () => {
    const lines = generated.stdout.split('\n');
    const value = lines[lines.findIndex((l) => l.startsWith('Vonage "certificate" value')) + 1] ?? '';
    expect(Buffer.from(value, 'base64').equals(await readFile(certPath))).toBe(true);
  });

  it('makes an X.509 v3 certificate with the extensions Vonage archiving needs', async () => {
    const { stdout } = await openssl(['x509', '-in', certPath, '-noout', '-text']);
    expect(stdout).toContain('Version: 3 (0x2)');
    expect(stdout).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(stdout).toMatch(/Public-Key: \(2048 bit\)/);
    expect(stdout).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(stdout).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(stdout).toMatch(/Subject Key Identifier:\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/);
    expect(stdout).toMatch(/Subject: CN = Archive key, O = "Example, Ltd", C = GB/);
    expect(stdout).not.toContain('(Negative)');
    const { stdout: serial } = await openssl(['x509', '-in', certPath, '-noout', '-serial']);
    // 16 random bytes, first byte 01..7F: positive and minimally encoded.
    expect(serial.trim()).toMatch(/^serial=(0[1-9A-F]|[1-7][0-9A-F])[0-9A-F]{30}$/);
    expect(generated.stdout).toContain(`Serial:              ${serial.trim().slice('serial='.length)}`);
  });

  it('is a self-signed certificate that openssl verifies', async () => {
    const { stdout } = await openssl(['verify', '-CAfile', certPath, certPath]);
    expect(stdout.trim()).toBe(`${certPath}: OK`);
  });

  it('encrypts the private key as PKCS#8 PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC', async () => {
    const pem = await readFile(keyPath, 'utf8');
    expect(pem.split('\n', 1)[0]).toBe(pemBeginLine('ENCRYPTED PRIVATE KEY'));
    const { stdout } = await openssl(['asn1parse', '-in', keyPath]);
    expect(stdout).toContain(':PBES2');
    expect(stdout).toContain(':PBKDF2');
    expect(stdout).toContain(':hmacWithSHA256');
    expect(stdout).toContain(':aes-256-cbc');
    expect(stdout).toMatch(/INTEGER\s+:0927C0/); // 600000 iterations
  });

  it('opens with the passphrase in openssl pkey and matches the certificate', async () => {
    const pub = await openssl(['pkey', '-in', keyPath, '-passin', 'env:ARCHIVE_TEST_PASSPHRASE', '-pubout'], { env });
    const certPub = await openssl(['x509', '-in', certPath, '-noout', '-pubkey']);
    expect(pub.stdout).toBe(certPub.stdout);
    const wrong = await runProgram('openssl', ['pkey', '-in', keyPath, '-passin', 'pass:wrong passphrase', '-noout']);
    expect(wrong.code).not.toBe(0);
  });

  it('writes a PKCS#12 bundle that openssl pkcs12 opens with the same passphrase', async () => {
    const info = await openssl(['pkcs12', '-info', '-in', p12Path, '-passin', 'env:ARCHIVE_TEST_PASSPHRASE', '-nokeys'], { env });
    expect(info.stderr).toContain('MAC: sha256, Iteration 600000');
    expect(info.stderr).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256');
    expect(info.stdout).toContain('friendlyName: Archive key');
    const certInBundle = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n/.exec(info.stdout)?.[0];
    expect(certInBundle).toBe(await readFile(certPath, 'utf8'));
    const keyOut = await openssl(
      ['pkcs12', '-in', p12Path, '-passin', 'env:ARCHIVE_TEST_PASSPHRASE', '-nocerts', '-nodes'],
      { env },
    );
    const fromBundle = await openssl(['pkey', '-pubout'], { input: keyOut.stdout });
    const fromPem = await openssl(['pkey', '-in', keyPath, '-passin', 'env:ARCHIVE_TEST_PASSPHRASE', '-pubout'], { env });
    expect(fromBundle.stdout).toBe(fromPem.stdout);
    const wrong = await runProgram('openssl', ['pkcs12', '-info', '-in', p12Path, '-passin', 'pass:wrong', '-noout']);
    expect(wrong.code).not.toBe(0);
  });

  it('reads its own PKCS#12 bundle back: the key in it matches the certificate', async () => {
    const result = await runCliInProcess(['keys', 'check', '--key', p12Path, '--cert', certPath, '--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses to overwrite: exit 6, one line, existing files untouched', async () => {
    const before = await Promise.all([keyPath, certPath, p12Path].map(async (p) => createHash('sha256').update(await readFile(p)).digest('hex')));
    const result = await runCliInProcess(['keys', 'generate', '--out', out, '--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'], env);
    expectOneLineError(result, 6, /already exist.*nothing was written/);
    const after = await Promise.all([keyPath, certPath, p12Path].map(async (p) => createHash('sha256').update(await readFile(p)).digest('hex')));
    expect(after).toEqual(before);
    expect((await readdir(out)).sort()).toEqual(['archive-certificate.pem', 'archive-key.p12', 'archive-private-key.pem']);
  });

  it('refuses when only one of the target files exists, and writes none', async () => {
    const dir = join(root, 'one-exists');
    await runProgram('mkdir', ['-p', dir]);
    await writeFile(join(dir, 'archive-certificate.pem'), 'keep me');
    const result = await runCliInProcess(['keys', 'generate', '--out', dir, '--no-passphrase']);
    expectOneLineError(result, 6, /archive-certificate\.pem already exists/);
    expect(await readdir(dir)).toEqual(['archive-certificate.pem']);
    expect(await readFile(join(dir, 'archive-certificate.pem'), 'utf8')).toBe('keep me');
  });

  it('writes an unencrypted PKCS#8 key with --no-passphrase and says so', async () => {
    const dir = join(root, 'plain');
    const result = await runCliInProcess(['keys', 'generate', '--out', dir, '--no-passphrase']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: the private key is written unencrypted/);
    expect((await readFile(join(dir, 'archive-private-key.pem'), 'utf8')).split('\n', 1)[0]).toBe(pemBeginLine('PRIVATE KEY'));
    await openssl(['pkey', '-in', join(dir, 'archive-private-key.pem'), '-noout']);
    expect((await stat(join(dir, 'archive-private-key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('reads the new passphrase from --passphrase-file', async () => {
    const dir = join(root, 'from-file');
    const file = join(root, 'passphrase.txt');
    await writeFile(file, 'from a file, not argv\n', { mode: 0o600 });
    const result = await runCliInProcess(['keys', 'generate', '--out', dir, '--passphrase-file', file]);
    expect(result.code).toBe(0);
    await openssl(['pkey', '-in', join(dir, 'archive-private-key.pem'), '-passin', `file:${file}`, '-noout']);
  });

  it('warns that Vonage accepts 2048 bits at most when --bits is larger', async () => {
    const dir = join(root, 'big');
    const result = await runCliInProcess(['keys', 'generate', '--out', dir, '--bits', '3072', '--no-passphrase']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: Vonage accepts keys of 2048 bits at most/);
    const { stdout } = await openssl(['x509', '-in', join(dir, 'archive-certificate.pem'), '-noout', '-text']);
    expect(stdout).toMatch(/Public-Key: \(3072 bit\)/);
  });

  it.each([
    [['--bits', '1024', '--no-passphrase'], 2, /--bits 1024 is too small/],
    [['--bits', '2049', '--no-passphrase'], 2, /multiple of 8/],
    [['--bits', 'many', '--no-passphrase'], 2, /argument 'many' is invalid/],
    [['--days', '0', '--no-passphrase'], 2, /--days must be a whole number from 1/],
    [['--subject', 'CN=ok,XX=bad', '--no-passphrase'], 2, /unknown attribute "XX"/],
    [['--subject', 'no equals sign', '--no-passphrase'], 2, /not NAME=value/],
    [['--no-passphrase', '--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'], 2, /only one of/],
    [['--no-passphrase', '--pkcs12'], 2, /--pkcs12 needs a passphrase/],
    [['--passphrase-env', 'ARCHIVE_TEST_UNSET_VARIABLE'], 2, /ARCHIVE_TEST_UNSET_VARIABLE .* not set/],
    [[], 2, /no terminal to ask/],
    [['--no-passphrase', '--frobnicate'], 2, /unknown option '--frobnicate'/],
  ])('refuses %j with exit %i and writes nothing', async (args, code, message) => {
    const dir = join(root, `refused-${Math.random().toString(36).slice(2)}`);
    const result = await runCliInProcess(['keys', 'generate', '--out', dir, ...args], env);
    expect(result.code).toBe(code);
    expect(result.stderr.split('\n').find((l) => l.trim() !== '')).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});

/**
 * Runs `keys generate` on a pseudo-terminal (util-linux `script`) and answers each prompt when it
 * appears, so the test follows the conversation instead of sleeping.
 */
function generateOnTerminal(dir: string, answers: string[]): Promise<{ code: number; transcript: string }> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, cliPath, 'keys', 'generate', '--out', dir].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let transcript = '';
    let answered = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      transcript += chunk.toString('utf8');
      const prompts = transcript.match(/passphrase: /g)?.length ?? 0;
      while (answered < prompts && answered < answers.length) child.stdin.write(`${answers[answered++]}\r`);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, transcript }));
  });
}

describe('keys generate on a terminal', () => {
  it('asks for the new passphrase twice without echoing it', async () => {
    const dir = join(root, 'tty');
    const { code, transcript } = await generateOnTerminal(dir, ['typed on a terminal', 'typed on a terminal']);
    expect(code).toBe(0);
    expect(transcript).toMatch(/New passphrase: \s*\r?\nRepeat passphrase: /);
    expect(transcript).not.toContain('typed on a terminal');
    await openssl(['pkey', '-in', join(dir, 'archive-private-key.pem'), '-passin', 'pass:typed on a terminal', '-noout']);
  });

  it('refuses (exit 2) when the two answers differ, and writes nothing', async () => {
    const dir = join(root, 'tty-mismatch');
    const { code, transcript } = await generateOnTerminal(dir, ['first answer here', 'second answer here']);
    expect(code).toBe(2);
    expect(transcript).toContain('archive-crypt: the passphrases do not match');
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});

describe('keys --help', () => {
  it.each(['generate', 'csr', 'inspect', 'check'])('keys %s --help shows a worked example', async (sub) => {
    const result = await runCliInProcess(['keys', sub, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`archive-crypt keys ${sub}`);
    expect(result.stdout).toContain('Example:');
    expect(result.stdout).toContain(`$ archive-crypt keys ${sub} `);
  });
});
