/**
 * The commands `npm run demo` prints can be pasted into a shell and run as they are: the argv quoting
 * helper round-trips through real shells (sh and bash) for any words, every command the demo ran is
 * printed in a form the shell parses back into the same words, and the closing recipe for real S3 and
 * Azure parses, uses only flags the CLI has, and sets credentials up by variable name, never by value.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { buildProgram } from '../src/cli/main.js';
import { repoRoot } from './support/helpers.js';
// @ts-expect-error -- a plain JavaScript script module without types
import { shellQuote } from '../scripts/shell-quote.js';

const quote = shellQuote as (argv: string[]) => string;
const numRuns = Number(process.env.FC_RUNS ?? 25);
const shells = ['sh', 'bash'].filter((shell) => spawnSync(shell, ['-c', 'true']).status === 0);

/** A stand-in `archive-crypt` on the PATH that prints its arguments (NUL after each, SOH after each call). */
const shimDir = mkdtempSync(join(tmpdir(), 'archive-crypt-shim-'));
writeFileSync(join(shimDir, 'archive-crypt'), "#!/bin/sh\nprintf '%s\\0' \"$@\"\nprintf '\\001'\n", { mode: 0o755 });
afterAll(() => rmSync(shimDir, { recursive: true, force: true }));

/** The words `shell` hands to `archive-crypt`, call by call, when it runs `script`. */
function wordsOf(shell: string, script: string, input = ''): string[][] {
  const result = spawnSync(shell, ['-c', script], { input, encoding: 'utf8', env: { ...process.env, PATH: `${shimDir}:${process.env.PATH ?? ''}` } });
  if (result.status !== 0 && result.status !== 1) throw new Error(`${shell} failed (${result.status}): ${result.stderr}`);
  return result.stdout.split('\u0001').slice(0, -1).map((call) => call.split('\0').slice(0, -1));
}

describe('shellQuote', () => {
  it('finds sh and bash', () => {
    expect(shells).toContain('sh');
  });

  it.each(shells)('round-trips any argv through %s', (shell) => {
    // Any characters but NUL (which no argv can hold), with the ones shells treat specially made likely.
    const word = fc.oneof(
      fc.string({ unit: fc.constantFrom(...` '"\\$\`!*?[]{}()<>|&;#~=%,\n\t-xé`.split('')) }),
      fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0')),
    );
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), (argv) => {
        expect(wordsOf(shell, `archive-crypt ${quote(argv)}`)).toEqual([argv]);
      }),
      { numRuns },
    );
  });

  it('leaves plain words bare and quotes the rest', () => {
    expect(quote(['keys', 'generate', '--subject', 'CN=Demo archive key,O=Example', '--out', './keys'])).toBe("keys generate --subject 'CN=Demo archive key,O=Example' --out ./keys");
    expect(quote(["it's", '', '$HOME', '=ls'])).toBe(`'it'\\''s' '' '$HOME' '=ls'`);
  });
});

describe('npm run demo', () => {
  const demo = spawnSync(process.execPath, ['scripts/demo.js'], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const output = demo.stdout;
  const [ran = '', recipe = ''] = output.split(/^.*== Against real S3 or Azure.*$/m);
  const printed = ran.split('\n').filter((line) => line.startsWith('$ archive-crypt ')).map((line) => line.slice(2));

  it('runs to the end', () => {
    // stderr carries the commands' own summaries; a failed demo says so there.
    expect(demo.stderr).not.toMatch(/demo failed/);
    expect(demo.status).toBe(0);
    expect(printed.length).toBeGreaterThanOrEqual(4);
    expect(recipe).toMatch(/archive-crypt decrypt/);
  });

  it.each(shells)('prints each command it ran so that %s gives back the same words', (shell) => {
    for (const line of printed) {
      const calls = wordsOf(shell, line);
      expect(calls).toHaveLength(1);
      expect(`archive-crypt ${quote(calls[0]!)}`).toBe(line);
    }
    const generate = wordsOf(shell, printed.find((line) => line.startsWith('archive-crypt keys generate'))!)[0]!;
    expect(generate.slice(generate.indexOf('--subject'), generate.indexOf('--subject') + 2)).toEqual(['--subject', 'CN=Demo archive key,O=Example']);
  });

  it('shows the real-storage recipe with the flags the CLI has, and no secret values', async () => {
    expect(spawnSync('bash', ['-n', '-c', recipe]).status).toBe(0);
    // No terminal: every `read -rs` fails, so nothing secret is ever set, and the rest still parses.
    const calls = wordsOf('bash', recipe);
    expect(calls.map((argv) => argv.slice(0, 2).join(' '))).toEqual(['keys generate', 'list s3://my-archives', 'decrypt s3://my-archives/47000000/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4', 'list azure://archives', 'decrypt azure://archives/47000000/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4']);
    const quiet = () => Object.assign(new PassThrough(), { isTTY: false });
    const program = await buildProgram(new CliContext({ stdout: quiet(), stderr: quiet(), stdin: quiet(), env: {} }), []);
    for (const argv of calls) {
      let command: Command = program;
      for (const word of argv) command = command.commands.find((sub) => sub.name() === word) ?? command;
      const known = new Set(command.options.flatMap((option) => [option.long, option.short]));
      expect(argv.filter((word) => word.startsWith('-')).filter((flag) => !known.has(flag))).toEqual([]);
      // Secrets by name only.
      expect(argv).not.toContain('--passphrase');
    }
    for (const variable of ['AWS_SECRET_ACCESS_KEY', 'AZURE_STORAGE_CONNECTION_STRING', 'ARCHIVE_KEY_PASSPHRASE']) {
      expect(recipe).toMatch(new RegExp(`read -rs ${variable}`));
      expect(recipe).not.toMatch(new RegExp(`${variable}=\\S`));
    }
  });
});
