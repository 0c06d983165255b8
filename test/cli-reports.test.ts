/**
 * `--json` and `--report FILE` of every reporting command (src/cli/output.ts), in process: each
 * command × {success, failure} × {--json, --report} gives exactly one JSON document, where it
 * belongs (stdout; stderr when stdout carries the output; the file, mode 0600), with the exit code in
 * it; failures carry `error: {message, code}`; verify-only runs say `"output": null`.
 */
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let sealed: string;
let archives: string;
/** S3 settings through a config file: credentials are read from the run's own environment (ctx.env). */
let s3Config: string;
const bucket = uniqueName('reports');
const apiKey = '123456';

beforeAll(async () => {
  dir = await tempDir('archive-crypt-reports-');
  key = await privateKeyCopy(dir);
  sealed = join(dir, 'sample.sealed');
  const made = await runCliInProcess(['seal', fx.sample, '--to', fx.certPem, '--output', sealed]);
  if (made.code !== 0) throw new Error(`seal failed: ${made.stderr}`);
  await createBucket(bucket);
  await putS3Object(bucket, `${apiKey}/${fx.archiveId}/archive.mp4`, await readFile(fx.archive));
  const env = s3Env();
  s3Config = join(dir, 's3-config.json');
  await writeFile(
    s3Config,
    JSON.stringify({ storage: { s3: { endpoint: env.AWS_ENDPOINT_URL_S3, region: env.AWS_REGION, accessKeyIdEnv: 'AWS_ACCESS_KEY_ID', secretAccessKeyEnv: 'AWS_SECRET_ACCESS_KEY' } } }),
  );
  archives = join(dir, 'archives.json');
  await writeFile(archives, JSON.stringify({ count: 1, items: [JSON.parse(await readFile(fx.archiveJson, 'utf8'))] }));
});

interface Row {
  name: string;
  /** The command line of a run that succeeds; `out` is a fresh folder for its outputs. */
  success: (out: string) => string[];
  /** The command line of a run that fails, and its exit code. */
  failure: (out: string) => string[];
  failureCode: number;
  env?: () => NodeJS.ProcessEnv;
  /** What the success document must hold. */
  expectSuccess?: Record<string, unknown>;
}

const keyArgs = () => ['--key', key, ...passArgs];

const rows: Row[] = [
  {
    name: 'decrypt',
    success: () => ['decrypt', fx.archive, ...keyArgs(), '--archive-json', fx.archiveJson],
    failure: () => ['decrypt', fx.archive, ...keyArgs(), '--password', 'bm90IGEgcGFzc3dvcmQ='],
    failureCode: 3,
    expectSuccess: { output: null, archiveId: fx.archiveId, checks: { sha256: { status: 'ok' } } },
  },
  {
    name: 'encrypt',
    success: (out) => ['encrypt', fx.sample, '--cert', fx.certPem, '--output', join(out, 'archive.mp4')],
    failure: (out) => ['encrypt', fx.sample, '--cert', join(out, 'absent.pem'), '--output', join(out, 'archive.mp4')],
    failureCode: 3,
    expectSuccess: { status: 'uploaded', size: 67872 },
  },
  {
    name: 'seal',
    success: (out) => ['seal', fx.sample, '--to', fx.certPem, '--output', join(out, 'x.sealed')],
    failure: (out) => ['seal', fx.sample, '--to', fx.certPem, '--output', join(out, 'x.sealed'), '--segment-log2', '99'],
    failureCode: 2,
    expectSuccess: { plaintextBytes: 67868 },
  },
  {
    name: 'unseal',
    success: () => ['unseal', sealed, ...keyArgs()],
    failure: () => ['unseal', fx.archive, ...keyArgs()],
    failureCode: 4,
    expectSuccess: { output: null, plaintextBytes: 67868, context: '{"name":"sample.ts"}' },
  },
  {
    name: 'reseal',
    success: (out) => ['reseal', fx.archive, ...keyArgs(), '--archive-json', fx.archiveJson, '--to', fx.certPem, '--output', join(out, 'x.sealed')],
    failure: (out) => ['reseal', fx.archive, ...keyArgs(), '--archive-json', fx.archiveJson, '--to', fx.certPem, '--output', join(out, 'x.sealed'), '--expect-sha256', 'ab'.repeat(32)],
    failureCode: 4,
    expectSuccess: { archiveId: fx.archiveId, checks: { sha256: { status: 'ok' } } },
  },
  {
    name: 'list',
    success: () => ['--config', s3Config, 'list', `s3://${bucket}`],
    failure: () => ['--config', s3Config, 'list', `s3://${uniqueName('absent')}`],
    failureCode: 5,
    env: () => s3Env(),
    expectSuccess: { count: 1 },
  },
  {
    name: 'batch',
    success: () => ['--config', s3Config, 'batch', '--archives', archives, '--from', `s3://${bucket}`, '--verify-only', ...keyArgs(), '--threads', '0'],
    failure: () => ['--config', s3Config, 'batch', '--archives', archives, '--from', `s3://${uniqueName('absent')}`, '--verify-only', ...keyArgs(), '--threads', '0', '--retries', '0'],
    failureCode: 5,
    env: () => s3Env(),
    expectSuccess: { verified: 1, failed: 0 },
  },
  {
    name: 'keys inspect',
    success: () => ['keys', 'inspect', fx.certPem],
    failure: (out) => ['keys', 'inspect', join(out, 'absent.pem')],
    failureCode: 3,
    expectSuccess: { container: 'pem' },
  },
  {
    name: 'keys check',
    success: () => ['keys', 'check', '--key', key, '--cert', fx.certPem, ...passArgs],
    failure: () => ['keys', 'check', '--key', key, '--cert', fx.keyPem, ...passArgs],
    failureCode: 3,
    expectSuccess: { matches: true },
  },
];

let runs = 0;
async function run(row: Row, args: (out: string) => string[], extra: (out: string) => string[]) {
  const out = join(dir, `run-${(runs += 1)}`);
  await import('node:fs/promises').then((fs) => fs.mkdir(out));
  const result = await runCliInProcess([...args(out), ...extra(out)], { ...passEnv, ...row.env?.() });
  return { ...result, out };
}

/** The whole text is one JSON object (JSON.parse refuses a second document or trailing text). */
function oneDocument(text: string): Record<string, unknown> {
  const parsed = JSON.parse(text) as unknown;
  expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
  return parsed as Record<string, unknown>;
}

function checkDocument(document: Record<string, unknown>, row: Row, outcome: 'success' | 'failure', code: number): void {
  if (outcome === 'success') {
    expect(code).toBe(0);
    expect(document).toMatchObject({ ok: true, ...row.expectSuccess });
    expect(document).not.toHaveProperty('error');
  } else {
    expect(code).toBe(row.failureCode);
    expect(document).toMatchObject({ ok: false, exitCode: row.failureCode, error: { message: expect.any(String) as unknown, code: expect.stringMatching(/^ERR_/) as unknown } });
  }
}

describe.each(rows)('$name', (row) => {
  it.each(['success', 'failure'] as const)('%s with --json: one JSON document on stdout, nothing else there', async (outcome) => {
    const result = await run(row, outcome === 'success' ? row.success : row.failure, () => ['--json']);
    checkDocument(oneDocument(result.stdout), row, outcome, result.code);
    expect(result.stderr).not.toMatch(/^\s*\{/m);
    if (outcome === 'failure') expect(result.stderr).toMatch(/^archive-crypt: /m);
  });

  it.each(['success', 'failure'] as const)('%s with --report FILE: the document in FILE (0600), none on stdout', async (outcome) => {
    const result = await run(row, outcome === 'success' ? row.success : row.failure, (out) => ['--report', join(out, 'report.json')]);
    const path = join(result.out, 'report.json');
    checkDocument(oneDocument(await readFile(path, 'utf8')), row, outcome, result.code);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(result.stdout.trimStart().startsWith('{')).toBe(false);
    // Nothing but the outputs and the report: no staging file is left next to it.
    expect((await readdir(result.out)).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});

describe('where the document goes', () => {
  it('goes to stderr when stdout carries the media (--output -)', async () => {
    const result = await runCliInProcess(['decrypt', fx.archive, ...keyArgs(), '--archive-json', fx.archiveJson, '--output', '-', '--json'], passEnv);
    expect(result.code).toBe(0);
    expect(result.stdoutBytes.equals(await readFile(fx.sample))).toBe(true);
    expect(oneDocument(result.stderr)).toMatchObject({ ok: true, output: 'stdout' });
  });

  it('a flag commander refuses still gives one document (exit 2)', async () => {
    const result = await runCliInProcess(['unseal', sealed, ...keyArgs(), '--no-such-flag', '--json'], passEnv);
    expect(result.code).toBe(2);
    expect(oneDocument(result.stdout)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_USAGE' } });
  });

  it('a bad config file still gives one document (exit 2)', async () => {
    const config = join(dir, 'bad-config.json');
    await writeFile(config, '{"storage": 5}');
    const result = await runCliInProcess(['--config', config, 'seal', fx.sample, '--to', fx.certPem, '--output', join(dir, 'never.sealed'), '--json']);
    expect(result.code).toBe(2);
    expect(oneDocument(result.stdout)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_USAGE' } });
  });

  it('an older report is replaced atomically', async () => {
    const path = join(dir, 'replaced.json');
    await writeFile(path, 'old', { mode: 0o600 });
    const result = await runCliInProcess(['keys', 'inspect', fx.certPem, '--report', path]);
    expect(result.code).toBe(0);
    expect(oneDocument(await readFile(path, 'utf8'))).toMatchObject({ ok: true, container: 'pem' });
  });
});
