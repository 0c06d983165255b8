// Writes docs/CLI.md from the CLI's own --help texts, so the reference cannot drift from the code
// (test/cli.test.ts runs it with --check, which fails when it is stale).
// Run `npm run build && node scripts/cli-reference.js` after changing a command.
import { readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { CliContext } from '../dist/cli/context.js';
import { execute } from '../dist/cli/main.js';

const commands = [[], ['keys', 'generate'], ['keys', 'csr'], ['keys', 'inspect'], ['keys', 'check'], ['decrypt'], ['encrypt'], ['list'], ['batch'], ['seal'], ['unseal'], ['reseal'], ['vonage', 'archives'], ['vonage', 'archive'], ['vonage', 'archive', 'delete'], ['vonage', 'storage', 'set'], ['vonage', 'storage', 'policy']];

/** `archive-crypt <args> --help` run in this process (one process for every command, not one each). */
async function helpOf(args) {
  const out = [];
  const err = [];
  const stream = (into) => Object.assign(new PassThrough(), { isTTY: false }).on('data', (chunk) => into.push(chunk));
  const ctx = new CliContext({ stdout: stream(out), stderr: stream(err), stdin: Object.assign(new PassThrough(), { isTTY: false }), env: {} });
  const code = await execute(ctx, [...args, '--help']);
  await setImmediate(); // the collectors' last 'data' events
  if (code !== 0) throw new Error(`archive-crypt ${args.join(' ')} --help failed: ${Buffer.concat(err).toString()}`);
  return Buffer.concat(out).toString('utf8');
}

async function cliReference() {
  const sections = [];
  for (const args of commands) {
    const help = await helpOf(args);
    sections.push(`## archive-crypt ${args.join(' ')}`.trimEnd() + '\n\n```text\n' + help.trimEnd() + '\n```\n');
  }
  return `# archive-crypt command reference\n\nGenerated from \`--help\` by \`scripts/cli-reference.js\`; do not edit by hand.\n\n${sections.join('\n')}`;
}

const target = new URL('../docs/CLI.md', import.meta.url);
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== (await cliReference())) {
    console.error('docs/CLI.md is stale: run `npm run build && node scripts/cli-reference.js`');
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, await cliReference());
}
