/**
 * Bad inputs to the keys commands: each gives the documented exit code and one line on stderr,
 * no stack trace, and leaves no file behind.
 */
import { chmod, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { expectOneLineError } from './support/one-line-error.js';

const env = { ARCHIVE_TEST_PASSPHRASE: 'the right passphrase', ARCHIVE_TEST_WRONG: 'not the passphrase' };
const dir = await tempDir();
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  await openssl(
    ['req', '-new', '-x509', '-days', '365', '-newkey', 'rsa:2048', '-out', path('cert.pem'), '-keyout', path('key.pem'), '-passout', 'env:ARCHIVE_TEST_PASSPHRASE', '-subj', '/CN=errors'],
    { env },
  );
  await openssl(['pkey', '-in', path('key.pem'), '-passin', 'env:ARCHIVE_TEST_PASSPHRASE', '-out', path('plain.pem')], { env });
  await openssl(['pkcs12', '-export', '-inkey', path('plain.pem'), '-in', path('cert.pem'), '-passout', 'env:ARCHIVE_TEST_PASSPHRASE', '-out', path('bundle.p12')], { env });
  const keyPem = await import('node:fs/promises').then((fs) => fs.readFile(path('key.pem'), 'utf8'));
  const certPem = await import('node:fs/promises').then((fs) => fs.readFile(path('cert.pem'), 'utf8'));
  await writeFile(path('garbage.pem'), 'this is not a key\n\x00\x01\x02 at all');
  await writeFile(path('truncated-key.pem'), keyPem.slice(0, keyPem.length / 2));
  await writeFile(path('truncated-cert.pem'), certPem.slice(0, certPem.length / 2));
  // END line intact but the body cut short.
  const lines = keyPem.trimEnd().split('\n');
  await writeFile(path('short-body.pem'), [...lines.slice(0, 5), lines[lines.length - 1]].join('\n') + '\n');
  await writeFile(path('world-readable.pem'), await import('node:fs/promises').then((fs) => fs.readFile(path('plain.pem'))));
  await writeFile(path('existing.csr'), 'keep');
  for (const name of ['key.pem', 'plain.pem', 'bundle.p12', 'garbage.pem', 'truncated-key.pem', 'short-body.pem']) await chmod(path(name), 0o600);
  await chmod(path('world-readable.pem'), 0o644);
  await writeFile(path('group-readable.pem'), 'x');
  await chmod(path('group-readable.pem'), 0o640);
});

type Case = [name: string, args: (p: typeof path) => string[], code: number, message: RegExp];

const cases: Case[] = [
  ['garbage key', (p) => ['keys', 'check', '--key', p('garbage.pem'), '--cert', p('cert.pem')], 3, /garbage\.pem is not a private key/],
  ['garbage file inspected', (p) => ['keys', 'inspect', p('garbage.pem')], 3, /not a certificate, private key, CSR or PKCS#12 bundle/],
  ['garbage certificate', (p) => ['keys', 'check', '--key', p('plain.pem'), '--cert', p('garbage.pem')], 3, /garbage\.pem is not an X\.509 certificate/],
  ['truncated key PEM', (p) => ['keys', 'check', '--key', p('truncated-key.pem'), '--cert', p('cert.pem')], 3, /truncated/],
  ['truncated key PEM inspected', (p) => ['keys', 'inspect', p('truncated-key.pem')], 3, /truncated.*no END line/],
  ['truncated certificate inspected', (p) => ['keys', 'inspect', p('truncated-cert.pem')], 3, /truncated.*no END line/],
  ['key PEM with a cut body', (p) => ['keys', 'check', '--key', p('short-body.pem'), '--cert', p('cert.pem'), '--passphrase-env', 'ARCHIVE_TEST_PASSPHRASE'], 3, /wrong passphrase .*or the key file is damaged/],
  ['wrong passphrase', (p) => ['keys', 'check', '--key', p('key.pem'), '--cert', p('cert.pem'), '--passphrase-env', 'ARCHIVE_TEST_WRONG'], 3, /wrong passphrase for/],
  ['wrong passphrase inspected', (p) => ['keys', 'inspect', p('key.pem'), '--passphrase-env', 'ARCHIVE_TEST_WRONG'], 3, /wrong passphrase for/],
  ['wrong PKCS#12 passphrase', (p) => ['keys', 'inspect', p('bundle.p12'), '--passphrase-env', 'ARCHIVE_TEST_WRONG'], 3, /wrong passphrase for .*bundle\.p12/],
  ['PKCS#12 without passphrase', (p) => ['keys', 'inspect', p('bundle.p12')], 3, /give its passphrase with --passphrase-env/],
  ['missing passphrase, no terminal', (p) => ['keys', 'check', '--key', p('key.pem'), '--cert', p('cert.pem')], 3, /no terminal to ask: use --passphrase-env/],
  ['world-readable key', (p) => ['keys', 'check', '--key', p('world-readable.pem'), '--cert', p('cert.pem')], 3, /accessible by group or others \(mode 644\): run chmod 600/],
  ['group-readable key', (p) => ['keys', 'csr', '--key', p('group-readable.pem'), '--subject', 'CN=x', '--output', p('never.csr')], 3, /run chmod 600/],
  ['missing key file', (p) => ['keys', 'check', '--key', p('nope.pem'), '--cert', p('cert.pem')], 3, /nope\.pem not found/],
  ['missing file inspected', (p) => ['keys', 'inspect', p('nope.pem')], 3, /nope\.pem not found/],
  ['existing CSR output', (p) => ['keys', 'csr', '--key', p('plain.pem'), '--subject', 'CN=x', '--output', p('existing.csr')], 6, /existing\.csr already exists/],
  ['bad CSR subject', (p) => ['keys', 'csr', '--key', p('plain.pem'), '--subject', 'CN=x,BOGUS=y', '--output', p('never.csr')], 2, /unknown attribute "BOGUS"/],
  ['CSR wrong passphrase', (p) => ['keys', 'csr', '--key', p('key.pem'), '--subject', 'CN=x', '--output', p('never.csr'), '--passphrase-env', 'ARCHIVE_TEST_WRONG'], 3, /wrong passphrase/],
  ['unknown flag', (p) => ['keys', 'inspect', p('cert.pem'), '--colour'], 2, /unknown option '--colour'/],
  ['unknown subcommand', () => ['keys', 'frobnicate'], 2, /unknown command 'frobnicate'/],
  ['missing required option', (p) => ['keys', 'check', '--key', p('plain.pem')], 2, /required option '--cert <file>' not specified/],
];

describe('bad inputs to keys commands', () => {
  it.each(cases)('%s', async (_name, args, code, message) => {
    const before = (await readdir(dir)).sort();
    const result = await runCliInProcess(args(path), env);
    expectOneLineError(result, code, message);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(/-----BEGIN|[A-Za-z0-9+/]{40}/); // no PEM or base64 material
    expect((await readdir(dir)).sort()).toEqual(before);
  });
});
