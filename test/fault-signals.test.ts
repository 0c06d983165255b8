/**
 * Fault class: the process is stopped. Each stop signal ends a writing command mid-run with exit
 * 128 + n, one line, and nothing in the output folder; SIGKILL leaves nothing reachable either (an
 * unnamed O_TMPFILE file), and with the named fallback (ARCHIVE_CRYPT_NATIVE=0) the next run into
 * the folder removes the dead writer's partial and says so (docs/RELIABILITY.md).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';
import { leftIn, startCli, waitForOutputOpen } from './support/processes.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './vonage-fixture.js';

let dir: string;
let key: string;
let archive: Buffer;
let password: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-signals-');
  key = await privateKeyCopy(dir);
  archive = await readFile(fx.archive);
  password = (await readFile(fx.passwordFile, 'utf8')).trim();
});

/** Writing commands reading stdin, so that each stays mid-run until stopped. */
const writers: Record<string, (output: string) => string[]> = {
  decrypt: (output) => ['decrypt', '-', '--key', key, ...passArgs, '--password', password, '--output', output, '--no-mpegts-check'],
  encrypt: (output) => ['encrypt', '-', '--cert', fx.certPem, '--output', output, '--password-out', `${output}.password`],
  seal: (output) => ['seal', '-', '--to', fx.certPem, '--output', output],
};

/** Starts `command` into a fresh folder, feeds half the archive and waits until its output is open. */
async function midRun(command: string, name: string, env: NodeJS.ProcessEnv = {}) {
  const work = join(dir, name);
  await mkdir(work);
  const run = startCli((writers[command] ?? (() => []))(join(work, 'out.bin')), { ...passEnv, ...env });
  run.child.stdin.write(archive.subarray(0, 48 * 1024));
  await waitForOutputOpen(run.child.pid ?? 0, work, run.exited);
  return { work, run };
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
  it.each(Object.keys(writers))('%s killed mid-run leaves nothing in the folder', async (command) => {
    const { work, run } = await midRun(command, `kill-${command}`);
    run.child.kill('SIGKILL');
    expect(await run.exited).toBe(137);
    expect(await leftIn(work)).toEqual([]);
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
