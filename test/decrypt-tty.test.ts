/**
 * Behaviour on a terminal, through a real pseudo-terminal made by util-linux `script`: the progress
 * bar is drawn on stderr only there (and not with --quiet), and media is never written to a terminal.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runProgram, tempDir } from './support/helpers.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let key: string;

beforeAll(async () => {
  key = await privateKeyCopy(await tempDir());
});

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/** Runs the CLI with stdin, stdout and stderr all on a pseudo-terminal; the result mixes them. */
function runOnTerminal(args: string[]) {
  const command = [process.execPath, cliPath, ...args].map(quote).join(' ');
  return runProgram('script', ['-qec', command, '/dev/null'], { env: passEnv });
}

const verifyArgs = () => ['decrypt', fx.archive, '--key', key, ...passArgs, '--archive-json', fx.archiveJson];

describe('decrypt on a terminal', () => {
  it('draws a progress bar (bytes, rate, ETA) and then the summary', async () => {
    const result = await runOnTerminal(verifyArgs());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/decrypting .*100% \| 66 KiB \/ 66 KiB \| [\d.]+ [KMG]?i?B\/s \| ETA/);
    expect(result.stdout).toMatch(/verified .*archive\.mp4/);
  });

  it('draws nothing but errors with --quiet', async () => {
    const result = await runOnTerminal([...verifyArgs(), '--quiet']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('refuses --output - when stdout is a terminal (exit 2)', async () => {
    const result = await runOnTerminal([...verifyArgs(), '--output', '-']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^archive-crypt: refusing to write media to a terminal[^\n]*\r?\n$/);
  });
});
