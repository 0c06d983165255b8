/**
 * `seal` and `unseal` through the built CLI: round trips for several recipients and through pipes,
 * the exit codes of docs/ARCHITECTURE.md §5 for every failure, and no output file left after any failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { vectorKeyPem, vectorNamed } from './support/sealed-vectors.js';
import { expectOneLineError } from './support/one-line-error.js';


let dir: string;
const at = (name: string) => join(dir, name);
const plaintext = randomBytes(3 * 65_536 + 1234);
const env = { KEY_PASS: 'correct horse battery staple' };

beforeAll(async () => {
  dir = await tempDir();
  for (const name of ['alice', 'bob', 'carol']) {
    await writeFile(at(`${name}.pem`), vectorKeyPem(name), { mode: 0o600 });
    await openssl(['req', '-new', '-x509', '-key', at(`${name}.pem`), '-subj', `/CN=${name}`, '-days', '1', '-out', at(`${name}.crt`)]);
  }
  // bob's key encrypted, as `keys generate` writes it
  await openssl(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', at('bob.pem'), '-out', at('bob-encrypted.pem'), '-passout', 'env:KEY_PASS'], { env });
  await openssl(['pkey', '-in', at('bob-encrypted.pem'), '-passin', 'env:KEY_PASS', '-noout'], { env });
  await chmod(at('bob-encrypted.pem'), 0o600);
  await writeFile(at('media.ts'), plaintext);
  const sealed = await runCliInProcess(['seal', at('media.ts'), '--to', at('alice.crt'), '--to', at('bob.crt'), '--output', at('media.sealed')]);
  expect(sealed.stderr).toContain('for key ids');
  expect(sealed.code).toBe(0);
});

describe('seal and unseal', () => {
  it('round-trips for each recipient, with a plain and an encrypted key', async () => {
    const a = await runCliInProcess(['unseal', at('media.sealed'), '--key', at('alice.pem'), '--output', at('alice.out')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toContain('4 segments verified (sealed from media.ts)');
    expect((await readFile(at('alice.out'))).equals(plaintext)).toBe(true);
    const b = await runCliInProcess(['unseal', at('media.sealed'), '--key', at('carol.pem'), '--key', at('bob-encrypted.pem'), '--passphrase-env', 'KEY_PASS', '--output', '-'], env);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdoutBytes.equals(plaintext)).toBe(true);
  });

  it('streams stdin to stdout both ways, with a small segment size', async () => {
    const sealed = await runCliInProcess(['seal', '-', '--to', at('carol.crt'), '--output', '-', '--segment-log2', '10', '--quiet'], {}, plaintext);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stderr).toBe('');
    const opened = await runCliInProcess(['unseal', '-', '--key', at('carol.pem'), '--output', '-'], {}, sealed.stdoutBytes);
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stdoutBytes.equals(plaintext)).toBe(true);
  });

  it('verifies without writing anything when --output is left out', async () => {
    const result = await runCliInProcess(['unseal', at('media.sealed'), '--key', at('alice.pem')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdoutBytes.length).toBe(0);
  });

  it('opens a committed test vector', async () => {
    const vector = vectorNamed('many segments');
    await writeFile(at('vector.sealed'), Buffer.from(vector.sealed, 'base64'));
    const result = await runCliInProcess(['unseal', at('vector.sealed'), '--key', at('alice.pem'), '--output', '-']);
    expect(result.code, result.stderr).toBe(0);
    expect(createHash('sha256').update(result.stdoutBytes).digest('hex')).toBe(vector.plaintextSha256);
  });
});

describe('unseal failures', () => {
  const original = () => readFileSync(at('media.sealed'));
  const full = 65_536 + 32;
  const headerLength = () => original().length - (3 * full + 1234 + 32);
  const cases: [string, number, string, () => Buffer][] = [
    ['a flipped bit in the body', 4, 'invalid segment tag in segment 2', () => flipAt(original(), headerLength() + 2 * full + 100)],
    ['a flipped bit in the header', 4, 'invalid header tag', () => flipAt(original(), 20)],
    ['truncation at a segment boundary', 4, 'invalid sealed file length', () => original().subarray(0, headerLength() + 3 * full)],
    ['truncation inside a segment', 4, 'final segment', () => original().subarray(0, original().length - 10)],
    ['trailing data', 4, 'final segment', () => Buffer.concat([original(), Buffer.of(0)])],
    ['not a sealed file', 4, 'not a sealed archive-crypt file', () => plaintext],
  ];

  it.each(cases)('%s: exit %i, no output file', async (_name, code, message, make) => {
    const input = at(`damaged-${randomBytes(4).toString('hex')}.sealed`);
    await writeFile(input, make());
    const output = `${input}.out`;
    const result = await runCliInProcess(['unseal', input, '--key', at('alice.pem'), '--output', output]);
    expectOneLineError(result, code, message);
    expect(existsSync(output)).toBe(false);
  });

  it('streams only verified plaintext before a failure in a late segment (stdin, length unknown)', async () => {
    const damaged = flipAt(original(), headerLength() + 2 * full + 100);
    const result = await runCliInProcess(['unseal', '-', '--key', at('alice.pem'), '--output', '-'], {}, damaged);
    expect(result.code).toBe(4);
    expect(result.stdoutBytes.length).toBe(2 * 65_536);
    expect(result.stdoutBytes.equals(plaintext.subarray(0, result.stdoutBytes.length))).toBe(true);
  });

  it('truncation from stdin: exit 4 at the end', async () => {
    const result = await runCliInProcess(['unseal', '-', '--key', at('alice.pem'), '--output', '-'], {}, original().subarray(0, headerLength() + 3 * full));
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('final segment missing');
  });

  it('a file for other recipients: exit 3, naming the key ids', async () => {
    const output = at('wrong.out');
    const result = await runCliInProcess(['unseal', at('media.sealed'), '--key', at('carol.pem'), '--output', output]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/no key matches: this file is sealed for key ids [0-9a-f]{16}, [0-9a-f]{16}/);
    expect(existsSync(output)).toBe(false);
  });

  it('refuses an existing output (6), plaintext files under deny policy (6), and bad usage (2)', async () => {
    await writeFile(at('exists.out'), 'x');
    expect((await runCliInProcess(['unseal', at('media.sealed'), '--key', at('alice.pem'), '--output', at('exists.out')])).code).toBe(6);
    const denied = await runCliInProcess(['unseal', at('media.sealed'), '--key', at('alice.pem'), '--output', at('denied.out')], { ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' });
    expect(denied.code).toBe(6);
    expect(existsSync(at('denied.out'))).toBe(false);
    expect((await runCliInProcess(['unseal', at('media.sealed'), '--output', '-'])).code).toBe(2);
    expect((await runCliInProcess(['seal', at('media.ts'), '--to', at('alice.crt'), '--output', at('x.sealed'), '--segment-log2', '30'])).code).toBe(2);
    expect((await runCliInProcess(['seal', at('media.ts'), '--output', at('y.sealed')])).code).toBe(2);
    expect(existsSync(at('x.sealed'))).toBe(false);
  });
});

function flipAt(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] ?? 0) ^ 0x10;
  return copy;
}
