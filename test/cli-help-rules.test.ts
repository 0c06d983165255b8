/**
 * House rules of every command's --help, checked on the program itself (every command and
 * subcommand, the service ones included) so that a new flag cannot break them:
 * placeholders lowercase (`<file>`, `<var>`, `<archive-id>`, like git and aws), required options
 * marked "(required)", defaults written "(default: …)" (or commander's "(choices: …, default: …)") and never `(default: [])` or a quoted number,
 * and the short options users reach for: `-o` for every --output, `-k` for every --key.
 */
import { PassThrough } from 'node:stream';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliContext } from '../src/cli/context.js';
import { buildProgram } from '../src/cli/main.js';

const quiet = () => Object.assign(new PassThrough(), { isTTY: false });
const program = await buildProgram(new CliContext({ stdout: quiet(), stderr: quiet(), stdin: quiet(), env: {} }), []);

function* walk(command: Command, path: string[]): Generator<[string, Command]> {
  yield [path.join(' '), command];
  for (const sub of command.commands) yield* walk(sub, [...path, sub.name()]);
}
const commands = [...walk(program, ['archive-crypt'])];
const options = commands.flatMap(([name, command]) => command.options.map((option) => [name, command, option] as const));

/** What --help prints for an option, after the program's own help configuration. */
const described = (command: Command, option: Option) => command.createHelp().optionDescription(option);
const placeholder = /^[a-z0-9|.:-]+$/;

describe('--help of every command', () => {
  it('covers the whole program', () => {
    const names = commands.map(([name]) => name);
    for (const name of ['archive-crypt decrypt', 'archive-crypt keys inspect', 'archive-crypt vonage storage set', 'archive-crypt serve', 'archive-crypt queue retry']) {
      expect(names).toContain(name);
    }
    expect(options.length).toBeGreaterThan(100);
  });

  it('writes option placeholders in lowercase', () => {
    const bad = options
      .flatMap(([name, , option]) => [...option.flags.matchAll(/[<[]([^>\]]+)[>\]]/g)].map((m) => [name, option.flags, m[1] ?? ''] as const))
      .filter(([, , value]) => !placeholder.test(value))
      .map(([name, flags]) => `${name}: ${flags}`);
    expect(bad).toEqual([]);
  });

  it('writes argument placeholders in lowercase', () => {
    const bad = commands.flatMap(([name, command]) => command.registeredArguments.filter((argument) => !placeholder.test(argument.name())).map((argument) => `${name}: ${argument.name()}`));
    expect(bad).toEqual([]);
  });

  it('marks every required option "(required)"', () => {
    const required = options.filter(([, , option]) => option.mandatory);
    expect(required.length).toBeGreaterThan(5);
    const bad = required.filter(([, command, option]) => !described(command, option).endsWith('(required)')).map(([name, , option]) => `${name}: ${option.flags}`);
    expect(bad).toEqual([]);
    // …and only those.
    const wrong = options.filter(([, command, option]) => !option.mandatory && described(command, option).includes('(required)')).map(([name, , option]) => `${name}: ${option.flags}`);
    expect(wrong).toEqual([]);
  });

  it('writes defaults as "(default: …)", never an empty list or a quoted number', () => {
    const bad = options
      .map(([name, command, option]) => [name, option.flags, described(command, option)] as const)
      .filter(([, , text]) => /\(default: \[\]\)|default: "\d+"/.test(text) || (text.match(/default/gi) ?? []).length !== (text.match(/(\(|, )default: /g) ?? []).length)
      .map(([name, flags, text]) => `${name}: ${flags}: ${text}`);
    expect(bad).toEqual([]);
  });

  it('has -o for every --output and -k for every --key', () => {
    const bad = options
      .filter(([, , option]) => (option.long === '--output' && option.short !== '-o') || (option.long === '--key' && option.short !== '-k'))
      .map(([name, , option]) => `${name}: ${option.flags}`);
    expect(bad).toEqual([]);
  });

  it('shows list no download flags it does not use', () => {
    const list = commands.find(([name]) => name === 'archive-crypt list')![1];
    const longs = list.options.map((option) => option.long);
    expect(longs).toContain('--s3-endpoint');
    for (const flag of ['--part-size', '--download-concurrency', '--stall-timeout']) expect(longs).not.toContain(flag);
  });
});
