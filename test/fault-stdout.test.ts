/**
 * Fault class: the program reading stdout goes away. Every command that prints, run as a real
 * process on a real pipe (the point of this fault), ends with exit 6 and one line without a stack
 * trace — whether the reader is gone before the first write (the pipe's read end closed at once:
 * the write fails with EPIPE) or leaves after 100 bytes (`| head -c 100`). When a committed output
 * file is fine and only the report could not be printed, the line says the file was kept, and it is
 * there, complete (docs/RELIABILITY.md).
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runProgram, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { startCli } from './support/processes.js';
import { encryptedArchive, passArgs, passEnv, privateKeyCopy, vonageArchive, vonageFixture as fx } from './support/vonage-fixture.js';

const apiKey = '47000002';
const bucket = uniqueName('fault-stdout');
const ids = ['p-one', 'p-two'];
let dir: string;
let key: string;
let media: Buffer;
let large: { archive: string; password: string; sealed: string; media: string };
let listFile: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-stdout-');
  key = await privateKeyCopy(dir);
  media = await readFile(fx.sample);
  // 4.3 MB: far more than a pipe holds (64 KiB), so the writer meets the closed pipe mid-stream.
  const bigMedia = Buffer.concat(Array.from({ length: 64 }, () => media));
  const { body, password } = await vonageArchive(bigMedia);
  large = { archive: join(dir, 'large.mp4'), password, sealed: join(dir, 'large.sealed'), media: join(dir, 'large.ts') };
  await writeFile(large.archive, body);
  await writeFile(large.media, bigMedia);
  // Setting up, not the fault: in process.
  expect((await runCliInProcess(['seal', large.media, '--to', fx.certPem, '--output', large.sealed, '--quiet'])).code).toBe(0);
  const made = await Promise.all(ids.map((id) => encryptedArchive(id, media, apiKey)));
  await createBucket(bucket);
  await Promise.all(made.map((a) => putS3Object(bucket, `${apiKey}/${a.id}/archive.mp4`, a.body)));
  listFile = join(dir, 'archives.json');
  await writeFile(listFile, JSON.stringify({ count: made.length, items: made.map((a) => a.item) }));
});

interface Row {
  command: string;
  args: (work: string) => string[];
  env?: () => NodeJS.ProcessEnv;
  /** The reader leaves after 100 bytes (`| head -c 100`) as well as before the first write. */
  head?: boolean;
  /** Files the run committed before its report failed: named in the line, present and complete. */
  kept?: (work: string) => { path: string; content: () => Promise<Buffer> }[];
}

const incomplete = 'archive-crypt: stdout was closed by the program reading it; the output is incomplete\n';

const rows: Row[] = [
  { command: 'decrypt (large) --output -', head: true, args: () => ['decrypt', large.archive, '--key', key, ...passArgs, '--password', large.password, '--output', '-'] },
  { command: 'unseal (large) --output -', head: true, args: () => ['unseal', large.sealed, '--key', key, ...passArgs, '--output', '-'] },
  { command: 'seal (large) --output -', head: true, args: () => ['seal', large.media, '--to', fx.certPem, '--output', '-'] },
  { command: 'reseal --output -', head: true, args: () => ['reseal', large.archive, '--to', fx.certPem, '--key', key, ...passArgs, '--password', large.password, '--output', '-'] },
  // The archive on stdout is incomplete, so its password file must not stay either.
  { command: 'encrypt --output -', head: true, args: (work) => ['encrypt', large.media, '--cert', fx.certPem, '--output', '-', '--password-out', join(work, 'password.txt')] },
  { command: 'keys inspect --json', args: () => ['keys', 'inspect', fx.certPem, '--json'] },
  { command: 'keys inspect', args: () => ['keys', 'inspect', fx.certPem] },
  { command: '--help', args: () => ['--help'] },
  { command: 'decrypt --help', args: () => ['decrypt', '--help'] },
  { command: 'list', args: () => ['list', `s3://${bucket}`], env: () => s3Env() },
  { command: 'list --json', args: () => ['list', `s3://${bucket}`, '--json'], env: () => s3Env() },
  {
    command: 'decrypt --output FILE --json',
    args: (work) => ['decrypt', fx.archive, '--key', key, ...passArgs, '--password-file', fx.passwordFile, '--output', join(work, 'out.ts'), '--json'],
    kept: (work) => [{ path: join(work, 'out.ts'), content: () => readFile(fx.sample) }],
  },
  {
    command: 'encrypt --output FILE (password on stdout)',
    args: (work) => ['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(work, 'out.mp4')],
    // The password is the only way to the archive: printing it failed, so the archive must not stay.
  },
  {
    command: 'encrypt --output FILE --json (password in the document)',
    args: (work) => ['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(work, 'out.mp4'), '--json'],
    // The same with the password inside the JSON document: the archive is committed only after it went out.
  },
  {
    command: 'batch --out-dir --json',
    args: (work) => ['batch', '--archives', listFile, '--from', `s3://${bucket}`, '--out-dir', work, '--key', key, ...passArgs, '--json', '--quiet'],
    env: () => s3Env(),
    kept: (work) => ids.map((id) => ({ path: join(work, `${id}.ts`), content: () => Promise.resolve(media) })),
  },
];

/** Runs `args` with stdout on a pipe whose reading end this process closes before the child can write. */
async function withReaderGone(args: string[], env: NodeJS.ProcessEnv) {
  const run = startCli(args, { ...passEnv, ...env });
  run.child.stdout.destroy();
  run.child.stdin.end();
  return { code: await run.exited, stderr: run.stderr() };
}

/** Runs `args` in a shell pipeline `| head -c 100`; the exit code is the CLI's own. */
async function throughHead(args: string[], env: NodeJS.ProcessEnv) {
  const quoted = [process.execPath, cliPath, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = await runProgram('bash', ['-c', `${quoted} </dev/null | head -c 100 >/dev/null; exit \${PIPESTATUS[0]}`], { env: { ...passEnv, ...env } });
  return { code: result.code, stderr: result.stderr };
}

describe('closed stdout', () => {
  const cases = rows.flatMap((row) => [
    { ...row, reader: 'gone before the first write', start: withReaderGone },
    ...(row.head ? [{ ...row, reader: 'leaving after 100 bytes (| head -c 100)', start: throughHead }] : []),
  ]);
  it.each(cases)('$command, reader $reader: exit 6, one line', async (row) => {
    const work = join(dir, `${row.command.replace(/\W+/g, '-')}-${row.start === throughHead ? 'head' : 'gone'}`);
    await mkdir(work);
    const result = await row.start(row.args(work), row.env?.() ?? {});
    expect(result.stderr).not.toMatch(/\n\s+at |EPIPE/);
    // The one error line comes last; before it only the summary of work that did finish (batch, encrypt).
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines.filter((line) => line.startsWith('archive-crypt:'))).toHaveLength(1);
    const errorLine = `${lines.at(-1) ?? ''}\n`;
    const kept = row.kept?.(work) ?? [];
    if (kept.length === 0) {
      expect(errorLine).toBe(incomplete);
      expect(await readdir(work)).toEqual([]);
    } else {
      const shown = kept.map((file) => file.path);
      expect(errorLine).toMatch(/^archive-crypt: stdout was closed by the program reading it, so the report was not printed; the output files? .* (was|were) kept\n$/);
      for (const path of shown) expect(errorLine).toContain(path);
      expect((await readdir(work)).sort()).toEqual(shown.map((path) => path.slice(work.length + 1)).sort());
      for (const file of kept) expect((await readFile(file.path)).equals(await file.content())).toBe(true);
    }
    expect(result.code).toBe(6);
  });
});
