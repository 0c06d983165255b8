import { describe, expect, it } from 'vitest';
import { runCli } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';

describe('cli basics', () => {
  // The one check of bin/archive-crypt.js as a process here (the fault suite runs it for signals).
  it('prints the version from package.json', async () => {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it.each([
    [['--bogus'], /unknown option '--bogus'/],
    [['no-such-command'], /unknown command|too many arguments/],
    [[], /Usage: archive-crypt/],
    [['keys'], /Usage: archive-crypt keys/],
  ])('rejects bad usage %j with exit 2', async (args, message) => {
    const result = await runCliInProcess(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([['--help'], ['help', 'decrypt'], ['keys', '--help'], ['batch', '--help']])('%j prints help and exits 0', async (...args) => {
    const result = await runCliInProcess(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: archive-crypt/);
  });

  it('docs/CLI.md matches the --help of every command', async () => {
    const { runProgram } = await import('./support/helpers.js');
    const result = await runProgram(process.execPath, ['scripts/cli-reference.js', '--check']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
