/**
 * Bad input for `archive-crypt decrypt`, as a table: each case runs in its own folder and must end with
 * its documented exit code, exactly one clear line on stderr (no stack trace), nothing on stdout, and
 * no file at the output path nor any temporary left in the folder. The CLI runs in process (the code and
 * the line are src/cli/main.ts's, which bin/ only passes on); Ctrl-C needs a real process and a signal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { interruptWhileWriting } from './support/processes.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let otherKey: string;
let archive: Buffer;
let password: string;
/** A password for the fixture archive wrapped for another certificate's key. */
let passwordForOtherKey: string;
/** A password whose 51-byte blob starts 02 01 01 (made with openssl). */
let passwordWrongHeader: string;
/** Random bytes encrypted for the fixture certificate, and their password. */
let notMpegTs: { archive: Buffer; password: string };

beforeAll(async () => {
  dir = await tempDir();
  key = await privateKeyCopy(dir);
  otherKey = join(dir, 'other.pem');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', otherKey]);
  archive = await readFile(fx.archive);
  password = (await readFile(fx.passwordFile, 'utf8')).trim();

  const fixtureBlob = await openssl(
    ['pkeyutl', '-decrypt', '-inkey', fx.keyPem, '-passin', 'env:FIXTURE_PASS', '-pkeyopt', 'rsa_padding_mode:oaep'],
    { env: passEnv, input: Buffer.from(password, 'base64') },
  );
  const wrap = async (publicKeyArgs: string[], blob: Buffer) =>
    (await openssl(['pkeyutl', '-encrypt', ...publicKeyArgs, '-pkeyopt', 'rsa_padding_mode:oaep'], { input: blob })).stdoutBytes.toString('base64');
  passwordForOtherKey = await wrap(['-inkey', otherKey], fixtureBlob.stdoutBytes);
  const fixturePublic = join(dir, 'fixture-pub.pem');
  await writeFile(fixturePublic, (await openssl(['x509', '-in', fx.certPem, '-pubkey', '-noout'])).stdout);
  passwordWrongHeader = await wrap(['-pubin', '-inkey', fixturePublic], Buffer.concat([Buffer.from([2, 1, 1]), fixtureBlob.stdoutBytes.subarray(3)]));

  const random = join(dir, 'random.bin');
  await writeFile(random, randomBytes(188 * 10));
  const encrypted = await runCliInProcess(['encrypt', random, '--cert', fx.certPem, '--output', '-', '--password-out', join(dir, 'random-password.txt')]);
  expect(encrypted.code).toBe(0);
  notMpegTs = { archive: encrypted.stdoutBytes, password: (await readFile(join(dir, 'random-password.txt'), 'utf8')).trim() };
});

/** A ciphertext block whose change garbles plaintext that holds no packet start (so only sha256 notices). */
function blockAwayFromPacketStarts(): number {
  for (let block = 10; ; block += 1) {
    const start = block * 16;
    // Changing ciphertext block k garbles plaintext block k and flips a byte of block k+1.
    if (Math.floor(start / 188) === Math.floor((start + 31) / 188) && start % 188 !== 0) return block;
  }
}

function flipBit(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] ?? 0) ^ 0x01;
  return copy;
}

interface Case {
  name: string;
  code: number;
  message: RegExp;
  /** Files placed in the case folder before the run (the archive is `archive.mp4`). */
  files?: () => Record<string, Buffer | string>;
  /** Arguments after `decrypt <archive>`; `OUT` is the output path in the case folder. */
  args: () => string[];
  env?: NodeJS.ProcessEnv;
  source?: string;
}

const keyArgs = () => ['--key', key, ...passArgs];
const middle = () => 16 * 100;

const cases: Case[] = [
  { name: 'wrong key', code: 3, message: /the key does not open the archive password/, args: () => ['--key', otherKey, '--password', password] },
  { name: 'wrong passphrase', code: 3, message: /wrong passphrase for .*key\.pem/, args: () => [...keyArgs(), '--password', password], env: { FIXTURE_PASS: 'not the passphrase' } },
  {
    name: 'world-readable key',
    code: 3,
    message: /accessible by group or others \(mode 644\): run chmod 600/,
    files: () => ({ 'loose.pem': 'LOOSE' }),
    args: () => ['--key', 'LOOSE', ...passArgs, '--password', password],
  },
  { name: 'password for another key', code: 3, message: /the key does not open the archive password/, args: () => [...keyArgs(), '--password', passwordForOtherKey] },
  { name: 'corrupted base64 (bad character)', code: 3, message: /malformed archive password: not base64/, args: () => [...keyArgs(), '--password', `${password.slice(0, 100)}*${password.slice(101)}`] },
  {
    name: 'corrupted base64 (one character changed)',
    code: 3,
    message: /does not open the archive password/,
    args: () => [...keyArgs(), '--password', `${password.slice(0, 100)}${password[100] === 'A' ? 'B' : 'A'}${password.slice(101)}`],
  },
  { name: 'truncated password', code: 3, message: /malformed archive password/, args: () => [...keyArgs(), '--password', password.slice(0, 200)] },
  { name: 'blob with wrong header bytes', code: 3, message: /unsupported archive password: version\/algorithm\/mode 2\/1\/1/, args: () => [...keyArgs(), '--password', passwordWrongHeader] },
  { name: 'empty file', code: 4, message: /empty archive/, files: () => ({ 'archive.mp4': Buffer.alloc(0) }), args: () => [...keyArgs(), '--password', password] },
  {
    name: 'length not a multiple of 16',
    code: 4,
    message: /archive length 67871 is not a multiple of 16/,
    files: () => ({ 'archive.mp4': archive.subarray(0, -1) }),
    args: () => [...keyArgs(), '--password', password],
  },
  {
    name: 'one block missing',
    code: 4,
    message: /not MPEG-TS/,
    files: () => ({ 'archive.mp4': Buffer.concat([archive.subarray(0, middle()), archive.subarray(middle() + 16)]) }),
    args: () => [...keyArgs(), '--password', password],
  },
  { name: 'last block missing', code: 4, message: /invalid PKCS#7 padding/, files: () => ({ 'archive.mp4': archive.subarray(0, -16) }), args: () => [...keyArgs(), '--password', password] },
  {
    name: 'one flipped bit in the last block',
    code: 4,
    message: /invalid PKCS#7 padding/,
    files: () => ({ 'archive.mp4': flipBit(archive, archive.length - 5) }),
    args: () => [...keyArgs(), '--password', password],
  },
  {
    name: 'mid-file change caught by --expect-sha256',
    code: 4,
    message: /sha256 mismatch/,
    files: () => ({ 'archive.mp4': flipBit(archive, blockAwayFromPacketStarts() * 16 + 3) }),
    args: () => [...keyArgs(), '--password', password, '--expect-sha256', createHash('sha256').update(archive).digest('hex')],
  },
  {
    name: 'mid-file change caught by the archive JSON sha256sum',
    code: 4,
    message: /sha256 mismatch/,
    files: () => ({ 'archive.mp4': flipBit(archive, blockAwayFromPacketStarts() * 16 + 3) }),
    args: () => [...keyArgs(), '--archive-json', fx.archiveJson],
  },
  {
    name: 'non-MPEG-TS plaintext',
    code: 4,
    message: /plaintext is not MPEG-TS: no sync byte at offset 0/,
    files: () => ({ 'archive.mp4': notMpegTs.archive }),
    args: () => [...keyArgs(), '--password', notMpegTs.password],
  },
  { name: 'existing output', code: 6, message: /already exists; refusing to overwrite/, files: () => ({ 'out.ts': 'keep me' }), args: () => [...keyArgs(), '--password', password] },
  {
    name: 'plaintext policy deny',
    code: 6,
    message: /plaintext files are not allowed here \(ARCHIVE_CRYPT_PLAINTEXT_FILES=deny\)/,
    args: () => [...keyArgs(), '--password', password],
    env: { ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' },
  },
  { name: 'missing password option', code: 2, message: /no archive password: give --password, --password-file or --archive-json/, args: () => keyArgs() },
  { name: 'two password options', code: 2, message: /only one of/, args: () => [...keyArgs(), '--password', password, '--password-file', fx.passwordFile] },
  { name: '--archive-id without --archive-json', code: 2, message: /--archive-id needs --archive-json/, args: () => [...keyArgs(), '--password', password, '--archive-id', 'x'] },
  { name: 'a malformed --expect-sha256', code: 2, message: /--expect-sha256 is not a SHA-256/, args: () => [...keyArgs(), '--password', password, '--expect-sha256', 'abc'] },
  { name: 'no --key', code: 2, message: /give the private key with --key FILE/, args: () => ['--password', password] },
  { name: 'nonexistent source file', code: 5, message: /no-such-archive\.mp4: no such file/, args: () => [...keyArgs(), '--password', password], source: 'no-such-archive.mp4' },
  { name: 'nonexistent key file', code: 3, message: /private key .*missing\.pem not found/, args: () => ['--key', join(dir, 'missing.pem'), '--password', password] },
];

describe('decrypt: bad input', () => {
  it.each(cases)('$name → exit $code', async (testCase) => {
    const work = join(dir, `case-${testCase.name.replace(/\W+/g, '-')}`);
    await mkdir(work);
    const files = { 'archive.mp4': archive, ...testCase.files?.() };
    for (const [name, content] of Object.entries(files)) await writeFile(join(work, name), content);
    const loose = join(work, 'loose.pem');
    if ('loose.pem' in files) {
      await copyFile(fx.keyPem, loose);
      await chmod(loose, 0o644);
    }
    const before = (await readdir(work)).sort();
    const outputExisted = 'out.ts' in files;
    const output = join(work, 'out.ts');
    const args = testCase.args().map((arg) => (arg === 'LOOSE' ? loose : arg));

    const result = await runCliInProcess(['decrypt', join(work, testCase.source ?? 'archive.mp4'), ...args, '--output', output], { ...passEnv, ...testCase.env });

    expect(result.code).toBe(testCase.code);
    expect(result.stderr).toMatch(testCase.message);
    expect(result.stderr).toMatch(/^archive-crypt: [^\n]+\n$/); // exactly one line
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
    expect((await readdir(work)).sort()).toEqual(before); // no output, no .partial
    if (outputExisted) expect(await readFile(output, 'utf8')).toBe('keep me');
  });
});

describe('decrypt: refusals come before any work', () => {
  it.each([
    ['plaintext policy deny', { ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' }, 'fresh.ts'],
    ['existing output', {}, 'exists.ts'],
  ])('%s is reported (exit 6) even when the source and key do not exist', async (_name, env, outputName) => {
    const work = join(dir, `early-${outputName}`);
    await mkdir(work);
    await writeFile(join(work, 'exists.ts'), 'keep me');
    const result = await runCliInProcess(['decrypt', join(work, 'absent.mp4'), '--key', join(work, 'absent.pem'), '--password', password, '--output', join(work, outputName)], env);
    expect(result.code).toBe(6);
    expect(await readdir(work)).toEqual(['exists.ts']);
  });

  it('verify-only and --output - still work under the plaintext policy', async () => {
    const env = { ...passEnv, ARCHIVE_CRYPT_PLAINTEXT_FILES: 'deny' };
    const verify = await runCliInProcess(['decrypt', fx.archive, ...keyArgs(), '--password', password], env);
    expect(verify.code).toBe(0);
    const streamed = await runCliInProcess(['decrypt', fx.archive, ...keyArgs(), '--password', password, '--output', '-'], env);
    expect(streamed.code).toBe(0);
    expect(streamed.stdoutBytes.equals(await readFile(fx.sample))).toBe(true);
  });

  it('rejects an unknown --padding with exit 2', async () => {
    const result = await runCliInProcess(['decrypt', fx.archive, ...keyArgs(), '--password', password, '--padding', 'zero']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Allowed choices are pkcs7, none/);
  });
});

describe('decrypt --json on failure', () => {
  it('prints the report with ok:false and the error for a failed check', async () => {
    const work = join(dir, 'json-check');
    await mkdir(work);
    await writeFile(join(work, 'archive.mp4'), archive.subarray(0, -16));
    const result = await runCliInProcess(['decrypt', join(work, 'archive.mp4'), ...keyArgs(), '--password', password, '--json'], passEnv);
    expect(result.code).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/invalid PKCS#7 padding/) as unknown, code: 'ERR_INTEGRITY' },
      exitCode: 4,
      checks: { length: 'ok', padding: 'failed' },
      key: { index: 0 },
    });
    expect(result.stderr).toMatch(/^archive-crypt: invalid PKCS#7 padding[^\n]*\n$/);
  });

  it('prints ok:false with the error code when the key is unusable', async () => {
    const result = await runCliInProcess(['decrypt', fx.archive, '--key', otherKey, '--password', password, '--json']);
    expect(result.code).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, exitCode: 3, error: { code: 'ERR_PASSWORD', message: expect.stringMatching(/does not open/) as unknown } });
  });
});

describe('decrypt: Ctrl-C', () => {
  it('ends a read that waits on an open pipe, promptly, with no output', async () => {
    const work = join(dir, 'ctrl-c-idle');
    await mkdir(work);
    // Nothing is ever written and stdin stays open until the process is gone.
    const { code, stderr } = await interruptWhileWriting(['decrypt', '-', ...keyArgs(), '--password', password, '--output', join(work, 'out.ts')], work, { env: passEnv });
    expect(code).toBe(130);
    expect(stderr).toBe('archive-crypt: stopped by SIGINT; unfinished output was removed\n');
    expect(await readdir(work)).toEqual([]);
  });

  it('removes the partial output file and exits 130', async () => {
    const work = join(dir, 'ctrl-c');
    await mkdir(work);
    // Half the archive, then stdin stays open: the run is mid-way when the signal comes.
    const { code, stderr } = await interruptWhileWriting(['decrypt', '-', ...keyArgs(), '--password', password, '--output', join(work, 'out.ts')], work, {
      env: passEnv,
      input: archive.subarray(0, archive.length / 2),
    });
    expect(code).toBe(130);
    expect(stderr).toBe('archive-crypt: stopped by SIGINT; unfinished output was removed\n');
    expect(await readdir(work)).toEqual([]);
  });
});
