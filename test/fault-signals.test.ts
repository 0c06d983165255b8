/**
 * Fault class: the process is stopped. Each stop signal ends a writing command mid-run with exit
 * 128 + n, one line, and nothing in the output folder; SIGKILL at a random point of every writing
 * command (decrypt, unseal, seal, reseal, encrypt, batch) leaves nothing reachable either (an unnamed
 * O_TMPFILE file), and with the named fallback (ARCHIVE_CRYPT_NATIVE=0) the next run into the folder
 * — `batch` resume included — removes the dead writer's partial and says so (docs/RELIABILITY.md).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, tempDir } from './support/helpers.js';
import { createBucket, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { faultOnEveryDownload, startFaultProxy } from './support/fault-proxy.js';
import { leftIn, startCli, waitForOutputOpen } from './support/processes.js';
import { encryptedArchive, passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let archive: Buffer;
let sealed: Buffer;
let password: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-signals-');
  key = await privateKeyCopy(dir);
  archive = await readFile(fx.archive);
  password = (await readFile(fx.passwordFile, 'utf8')).trim();
  const seal = await runCli(['seal', fx.archive, '--to', fx.certPem, '--output', '-', '--quiet', '--segment-log2', '12']);
  expect(seal.code).toBe(0);
  sealed = seal.stdoutBytes;
});

/** Writing commands reading stdin, so that each stays mid-run until stopped, and what each reads. */
const writers: Record<string, { args: (output: string) => string[]; input: () => Buffer }> = {
  decrypt: { args: (output) => ['decrypt', '-', '--key', key, ...passArgs, '--password', password, '--output', output, '--no-mpegts-check'], input: () => archive },
  unseal: { args: (output) => ['unseal', '-', '--key', key, ...passArgs, '--output', output], input: () => sealed },
  seal: { args: (output) => ['seal', '-', '--to', fx.certPem, '--output', output], input: () => archive },
  reseal: {
    args: (output) => ['reseal', '-', '--to', fx.certPem, '--key', key, ...passArgs, '--password', password, '--output', output, '--no-mpegts-check'],
    input: () => archive,
  },
  encrypt: { args: (output) => ['encrypt', '-', '--cert', fx.certPem, '--output', output, '--password-out', `${output}.password`], input: () => archive },
};

/** A whole number in `[min, max]`; printed with every failure so that a kill point can be replayed. */
const randomIn = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/**
 * Starts `command` into a fresh folder, feeds it a random prefix of its input (at least one 4 KiB
 * segment, never all of it) and waits until its output is open and a random few milliseconds more.
 */
async function midRun(command: string, name: string, env: NodeJS.ProcessEnv = {}) {
  const work = join(dir, name);
  await mkdir(work);
  const writer = writers[command];
  if (!writer) throw new Error(`no writer ${command}`);
  const input = writer.input();
  const fed = randomIn(8 * 1024, input.length - 1024);
  const pause = randomIn(0, 40);
  const run = startCli(writer.args(join(work, 'out.bin')), { ...passEnv, ...env });
  run.child.stdin.write(input.subarray(0, fed));
  await waitForOutputOpen(run.child.pid ?? 0, work, run.exited);
  await new Promise((resolve) => setTimeout(resolve, pause));
  return { work, run, point: `killed after ${fed} of ${input.length} input bytes + ${pause} ms` };
}

describe('stop signals', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGQUIT', 131],
  ] as const)('%s mid-decrypt: exit %i, one line, nothing left', async (signal, expected) => {
    const { work, run } = await midRun('decrypt', signal);
    run.child.kill(signal);
    expect(await run.exited).toBe(expected);
    expect(run.stderr()).toBe(`archive-crypt: stopped by ${signal}; unfinished output was removed\n`);
    expect(await leftIn(work)).toEqual([]);
  });
});

describe('SIGKILL', () => {
  it.each(Object.keys(writers))('%s killed at a random point leaves nothing in the folder', async (command) => {
    const { work, run, point } = await midRun(command, `kill-${command}`);
    run.child.kill('SIGKILL');
    expect(await run.exited, point).toBe(137);
    expect(await leftIn(work), point).toEqual([]);
  });

  it('with the named fallback, the next run removes the dead writer\'s partial and says so', async () => {
    const { work, run } = await midRun('decrypt', 'kill-fallback', { ARCHIVE_CRYPT_NATIVE: '0' });
    run.child.kill('SIGKILL');
    await run.exited;
    const [partial] = await leftIn(work);
    expect(partial).toMatch(new RegExp(`^\\.out\\.bin\\.${run.child.pid}\\.\\d+\\.[0-9a-f]{12}\\.partial$`));
    const next = await runCli(['decrypt', fx.archive, '--key', key, ...passArgs, '--password', password, '--output', join(work, 'again.ts'), '--quiet'], {
      env: { ...passEnv, ARCHIVE_CRYPT_NATIVE: '0' },
    });
    expect(next.code).toBe(0);
    expect(next.stderr).toBe(`archive-crypt: removed ${join(work, partial ?? '')}, left by an earlier run that did not finish\n`);
    expect(await leftIn(work)).toEqual(['again.ts']);
  });
});

describe('SIGKILL of batch, then resume', () => {
  const apiKey = '47000001';
  const ids = ['k-one', 'k-two', 'k-three', 'k-four'];
  const bucket = uniqueName('fault-kill-batch');
  let media: Buffer;
  let listFile: string;

  beforeAll(async () => {
    media = await readFile(fx.sample);
    const made = await Promise.all(ids.map((id) => encryptedArchive(id, media, apiKey)));
    await createBucket(bucket);
    await Promise.all(made.map((a) => putS3Object(bucket, `${apiKey}/${a.id}/archive.mp4`, a.body)));
    listFile = join(dir, 'kill-batch.json');
    await writeFile(listFile, JSON.stringify({ count: made.length, items: made.map((a) => a.item) }));
  });

  it.each([
    ['with the addon (unnamed files)', {}],
    ['with the named fallback', { ARCHIVE_CRYPT_NATIVE: '0' }],
  ] as const)('%s: only complete archives survive the kill, and the resume finishes the rest', async (variant, env) => {
    const outDir = join(dir, `kill-batch-${Object.keys(env).length}`);
    await mkdir(outDir);
    const args = ['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--out-dir', outDir, '--key', key, ...passArgs, '--concurrency', '2', '--quiet'];
    // A paced store (2 KiB every 20 ms, about 100 KB/s): each archive takes about 0.7 s and the
    // batch about 1.4 s, so a kill within 400 ms of the first open lands mid-run.
    const proxy = await startFaultProxy(inject('s3Endpoint'), faultOnEveryDownload({ kind: 'drip', bytes: 2048, everyMs: 20 }));
    let point = '';
    try {
      const run = startCli(args, { ...passEnv, ...s3Env(proxy.url), ...env });
      const pause = randomIn(0, 400);
      point = `${variant}: killed ${pause} ms after the first output was opened`;
      await waitForOutputOpen(run.child.pid ?? 0, outDir, run.exited).catch((error: Error) => {
        throw new Error(`${point}: ${error.message}; stderr: ${run.stderr()}`);
      });
      await new Promise((resolve) => setTimeout(resolve, pause));
      run.child.kill('SIGKILL');
      expect(await run.exited, point).toBe(137);
    } finally {
      await proxy.close();
    }
    const survivors = await leftIn(outDir);
    const complete = survivors.filter((name) => ids.some((id) => name === `${id}.ts`));
    for (const name of complete) expect((await readFile(join(outDir, name))).equals(media), `${point}: ${name}`).toBe(true);
    const partials = survivors.filter((name) => !complete.includes(name));
    if (!('ARCHIVE_CRYPT_NATIVE' in env)) expect(partials, point).toEqual([]);
    for (const name of partials) expect(name, point).toMatch(/^\.k-[a-z]+\.ts\.\d+\.\d+\.[0-9a-f]{12}\.partial$/);

    const resume = await runCli(args, { env: { ...passEnv, ...s3Env(), ...env } });
    expect(resume.code, `${point}: ${resume.stderr}`).toBe(0);
    const removed = resume.stderr.split('\n').filter((line) => line.includes('left by an earlier run that did not finish'));
    expect(removed.length, `${point}: ${resume.stderr}`).toBe(partials.length);
    expect(await leftIn(outDir), point).toEqual(ids.map((id) => `${id}.ts`).sort());
    for (const id of ids) expect((await readFile(join(outDir, `${id}.ts`))).equals(media), `${point}: ${id}`).toBe(true);
  });
});
