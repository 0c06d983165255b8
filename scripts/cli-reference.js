// Writes docs/CLI.md from the CLI's own --help texts, so the reference cannot drift from the code
// (test/cli.test.ts runs it with --check, which fails when it is stale).
// Run `npm run build && node scripts/cli-reference.js` after changing a command.
import { readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { CliContext } from '../dist/cli/context.js';
import { buildProgram, execute } from '../dist/cli/main.js';

/** Every command of the program, groups and subcommands, in the order of the program's own help. */
async function commandPaths() {
  const quiet = () => Object.assign(new PassThrough(), { isTTY: false });
  const program = await buildProgram(new CliContext({ stdout: quiet(), stderr: quiet(), stdin: quiet(), env: {} }), []);
  const paths = [];
  const walk = (command, path) => {
    paths.push(path);
    for (const sub of [...command.commands].sort((a, b) => a.name().localeCompare(b.name()))) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return paths;
}

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
  for (const args of await commandPaths()) {
    const help = await helpOf(args);
    sections.push(`## archive-crypt ${args.join(' ')}`.trimEnd() + '\n\n```text\n' + help.trimEnd() + '\n```\n');
  }
  return `# archive-crypt command reference\n\nGenerated from \`--help\` by \`scripts/cli-reference.js\`; do not edit by hand.\n\n${sections.join('\n')}\n${jsonReports}`;
}

// The report schema is not in any --help: it lives here, beside the generated reference.
const jsonReports = `## JSON reports (--json, --report)

Every command that reports (decrypt, encrypt, seal, unseal, reseal, list, batch, keys inspect, keys check)
takes \`--json\` and \`--report FILE\` (src/cli/output.ts):

- \`--json\` prints exactly one JSON document and nothing else on stdout — on stderr instead when stdout
  carries the output (\`--output -\`). The human summary and the progress bar stay off.
- \`--report FILE\` writes the same document to FILE, mode 0600, through the file sink under a hidden
  sibling name renamed over FILE: a reader sees the old report or the whole new one, never a part. An
  older report is replaced (a re-run of batch). Without \`--json\` the human summary still goes to stderr.
- Every document has \`ok\` (true or false). A failure — any failure, a flag commander refuses and a bad
  config file included — gives one document too: what is known of the run plus
  \`"ok": false, "error": {"message": "…", "code": "ERR_…"}, "exitCode": N\`, where \`code\` is the stable
  code of the error (ERR_USAGE, ERR_KEY, ERR_PASSWORD, ERR_INTEGRITY, ERR_STORAGE, ERR_NOT_FOUND,
  ERR_ACCESS_DENIED, ERR_OUTPUT, ERR_POLICY, ERR_ABORTED, ERR_BATCH; ERR_UNEXPECTED otherwise) and
  \`exitCode\` the process's exit code (128 + n after a stop signal). The one-line error is still on stderr.
- A verify-only run (no \`--output\`) has \`"output": null\`; \`--output -\` is \`"output": "stdout"\`.

| command | the document (besides \`ok\`, and \`error\`/\`exitCode\` on failure) |
| --- | --- |
| decrypt | \`source\`, \`output\`, \`archiveId\` (from archive JSON), \`key\` {index, path, oaepHash, of}, \`ciphertextBytes\`, \`plaintextBytes\`, \`padding\`, \`parallel\`, \`crypto\` ("native" or "node"), \`checks\` {length, padding, mpegts {status, packets, trailingBytes, firstBadOffset?}, sha256 {status, matched?, ciphertext?, plaintext?}, size {status, expected?, matched?}, storage {status, algorithms}}; a failed check keeps the checks done so far |
| encrypt | a Vonage-like archive object: \`id\`, \`status\` "uploaded", \`size\`, \`sha256sum\` (base64), \`password\` (unless --password-out), \`plaintextBytes\`, \`output\`, \`passwordFile\`? — decrypt --archive-json takes it as it is |
| seal | \`source\`, \`output\`, \`plaintextBytes\`, \`sealedBytes\`, \`segments\`, \`recipients\` (key ids, hex), \`parallel\`, \`crypto\` |
| unseal | \`source\`, \`output\`, \`sealedBytes\`, \`plaintextBytes\`, \`segments\`, \`segmentSize\`, \`context\` (the header's authenticated metadata as text, e.g. {"name":"meeting.ts"}; null when empty), \`recipients\`, \`parallel\`, \`crypto\` |
| reseal | decrypt's document (no \`key\`) plus \`recipients\` and \`sealedBytes\` |
| list | \`store\`, \`count\`, \`items\` [{id, apiKey, key, uri, size, lastModified}] |
| batch | \`total\`, \`decrypted\`, \`verified\`, \`skipped\`, \`failed\`, \`archives\` [{id, status, object, output?, bytes?, error? {message, code}, note?, …}]; with failed archives the document is this report with \`ok: false\` and the first failure's exit code |
| keys inspect | \`file\`, \`container\` (pem, der, pkcs12, pkcs11), \`items\` [{kind, subject, issuer, selfSigned, serialNumber, notBefore, notAfter, daysLeft, key {type, bits, publicKeySha256}, fingerprintSha256, vonageCertificate, vonage {accepted, reason}, warnings}], \`warnings\`; with --strict a refused certificate makes it a failure document holding the same report |
| keys check | \`key\`, \`cert\`, \`matches\` (true), \`onToken\`, \`publicKeySha256\`, \`certificate\` {state (valid, expiring, expired, not-yet-valid), warning?} |
`;

const target = new URL('../docs/CLI.md', import.meta.url);
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== (await cliReference())) {
    console.error('docs/CLI.md is stale: run `npm run build && node scripts/cli-reference.js`');
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, await cliReference());
}
