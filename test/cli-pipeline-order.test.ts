/**
 * The order of src/cli/pipeline.ts, in process: every flag and the config are checked before a key
 * is opened (no passphrase prompt for a run that cannot start), and keys are opened before an output
 * is claimed (a bad key leaves the output untouched). The "terminal" is a pair of streams that say
 * they are TTYs, with the passphrase already typed, so a prompt shows on stderr instead of waiting.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { execute } from '../src/cli/main.js';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let sealed: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-order-');
  key = await privateKeyCopy(dir);
  sealed = join(dir, 'sample.sealed');
  const made = await runCliInProcess(['seal', fx.sample, '--to', fx.certPem, '--output', sealed]);
  if (made.code !== 0) throw new Error(`seal failed: ${made.stderr}`);
});

/** Runs a command line on a fake terminal where the key's passphrase is already typed. */
async function onTerminal(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const stdin = Object.assign(new PassThrough(), { isTTY: true, isRaw: false, setRawMode: () => stdin });
  stdin.write(`${passEnv.FIXTURE_PASS}\r`);
  const errChunks: Buffer[] = [];
  const outChunks: Buffer[] = [];
  const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
  const stdout = Object.assign(new PassThrough(), { isTTY: false });
  stderr.on('data', (chunk: Buffer) => errChunks.push(chunk));
  stdout.on('data', (chunk: Buffer) => outChunks.push(chunk));
  const ctx = new CliContext({ stdin, stderr, stdout, env: {} });
  const code = await execute(ctx, args);
  await new Promise((resolve) => setImmediate(resolve));
  stdin.destroy();
  return { code, stderr: Buffer.concat(errChunks).toString('utf8'), stdout: Buffer.concat(outChunks).toString('utf8') };
}

async function freshFolder(name: string): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  return folder;
}

describe('flags before keys: a bad flag is exit 2 with no passphrase prompt and no output', () => {
  const cases: [string, (out: string) => string[]][] = [
    ['unseal --part-size', (out) => ['unseal', sealed, '--key', key, '--part-size', 'lots', '--output', join(out, 'x.ts')]],
    ['unseal --stall-timeout', (out) => ['unseal', sealed, '--key', key, '--stall-timeout', 'soon', '--output', join(out, 'x.ts')]],
    ['decrypt --download-concurrency', (out) => ['decrypt', fx.archive, '--key', key, '--password-file', fx.passwordFile, '--download-concurrency', '0', '--output', join(out, 'x.ts')]],
    ['decrypt --expect-sha256', (out) => ['decrypt', fx.archive, '--key', key, '--password-file', fx.passwordFile, '--expect-sha256', 'nope', '--output', join(out, 'x.ts')]],
    ['reseal --segment-log2', (out) => ['reseal', fx.archive, '--key', key, '--password-file', fx.passwordFile, '--to', fx.certPem, '--segment-log2', '30', '--output', join(out, 'x.sealed')]],
    ['reseal --part-size', (out) => ['reseal', fx.archive, '--key', key, '--password-file', fx.passwordFile, '--to', fx.certPem, '--part-size', '1', '--output', join(out, 'x.sealed')]],
  ];
  it.each(cases)('%s', async (_name, args) => {
    const out = await freshFolder(`flags-${_name.replace(/\W+/g, '-')}`);
    const result = await onTerminal(args(out));
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/Passphrase/);
    expect(result.stderr).toMatch(/^archive-crypt: [^\n]+\n$/);
    expect(await readdir(out)).toEqual([]);
  });

  it('the same runs with good flags do prompt, naming the key, and succeed (the check above can fail)', async () => {
    const out = await freshFolder('flags-control');
    const result = await onTerminal(['unseal', sealed, '--key', key, '--part-size', '8MiB', '--output', join(out, 'x.ts'), '--quiet']);
    expect(result.stderr).toContain(`Passphrase for ${key}: `);
    expect(result.code).toBe(0);
    expect((await readFile(join(out, 'x.ts'))).equals(await readFile(fx.sample))).toBe(true);
  });

  it('an existing output is refused (exit 6) before the prompt', async () => {
    const out = await freshFolder('flags-exists');
    await writeFile(join(out, 'x.ts'), 'keep me');
    const result = await onTerminal(['unseal', sealed, '--key', key, '--output', join(out, 'x.ts')]);
    expect(result.code).toBe(6);
    expect(result.stderr).not.toMatch(/Passphrase/);
    expect(await readFile(join(out, 'x.ts'), 'utf8')).toBe('keep me');
  });
});

describe('keys before outputs: a bad key claims no output', () => {
  // The output's folder does not exist: claiming it would fail with exit 6, so exit 3 shows that the
  // key was tried first and the output never touched.
  const cases: [string, (bad: string, out: string) => string[]][] = [
    ['decrypt', (bad, out) => ['decrypt', fx.archive, '--key', bad, '--password-file', fx.passwordFile, '--output', join(out, 'missing', 'x.ts')]],
    ['unseal', (bad, out) => ['unseal', sealed, '--key', bad, '--output', join(out, 'missing', 'x.ts')]],
    ['reseal', (bad, out) => ['reseal', fx.archive, '--key', bad, '--password-file', fx.passwordFile, '--to', fx.certPem, '--output', join(out, 'missing', 'x.sealed')]],
    ['seal', (bad, out) => ['seal', fx.sample, '--to', bad, '--output', join(out, 'missing', 'x.sealed')]],
  ];
  it.each(cases)('%s', async (name, args) => {
    const out = await freshFolder(`keys-${name}`);
    const bad = join(out, 'not-a-key.pem');
    await writeFile(bad, `${'-'.repeat(5)}BEGIN PRIVATE KEY${'-'.repeat(5)}\nbm90IGEga2V5\n${'-'.repeat(5)}END PRIVATE KEY${'-'.repeat(5)}\n`, { mode: 0o600 });
    const result = await runCliInProcess(args(bad, out), passEnv);
    expect(result.code).toBe(3);
    expect(await readdir(out)).toEqual(['not-a-key.pem']);
  });

  it('with a good key the same missing folder is the output refusal (exit 6): the check above can fail', async () => {
    const out = await freshFolder('keys-control');
    const result = await runCliInProcess(['unseal', sealed, '--key', key, '--passphrase-env', 'FIXTURE_PASS', '--output', join(out, 'missing', 'x.ts')], passEnv);
    expect(result.code).toBe(6);
  });
});
