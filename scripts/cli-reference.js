// Writes docs/CLI.md from the CLI's own --help texts, so the reference cannot drift from the code
// (test/cli.test.ts runs it with --check, which fails when it is stale).
// Run `npm run build && node scripts/cli-reference.js` after changing a command.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const commands = [[], ['keys', 'generate'], ['keys', 'csr'], ['keys', 'inspect'], ['keys', 'check'], ['decrypt'], ['encrypt'], ['list'], ['batch'], ['seal'], ['unseal'], ['reseal'], ['vonage', 'archives'], ['vonage', 'archive'], ['vonage', 'archive', 'delete'], ['vonage', 'storage', 'set'], ['vonage', 'storage', 'policy']];

function cliReference() {
  const sections = commands.map((args) => {
    const help = spawnSync(process.execPath, ['bin/archive-crypt.js', ...args, '--help'], { cwd: root, encoding: 'utf8' });
    if (help.status !== 0) throw new Error(`archive-crypt ${args.join(' ')} --help failed: ${help.stderr}`);
    return `## archive-crypt ${args.join(' ')}`.trimEnd() + '\n\n```text\n' + help.stdout.trimEnd() + '\n```\n';
  });
  return `# archive-crypt command reference\n\nGenerated from \`--help\` by \`scripts/cli-reference.js\`; do not edit by hand.\n\n${sections.join('\n')}`;
}

const target = new URL('../docs/CLI.md', import.meta.url);
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== cliReference()) {
    console.error('docs/CLI.md is stale: run `npm run build && node scripts/cli-reference.js`');
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, cliReference());
}
