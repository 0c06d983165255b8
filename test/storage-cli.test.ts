/**
 * `archive-crypt list` and the shared storage flags, through the built CLI against the emulators:
 * table and JSON output, --api-key, and exit 5 with one line for storage failures.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { runCli } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { azuriteConnectionString, createBucket, createContainer, putBlob, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { expectOneLineError } from './support/one-line-error.js';

const bucket = uniqueName('cli');
const container = uniqueName('cli');
const archives = [
  { apiKey: '46372', id: 'b40ef09b-3811-4726-b508-e41a0f96c68f', size: 3 * 1024 * 1024 },
  { apiKey: '46372', id: '0c3a9d9e-1111-4000-8000-000000000001', size: 1000 },
  { apiKey: '99999', id: 'f00dfeed-2222-4000-8000-000000000002', size: 16 },
];
/** Objects that are not Vonage archives and must not be listed. */
const noise = ['46372/readme.txt', '46372/b40ef09b/extra/archive.mp4.part', 'archive.mp4', '46372/x/archive.zip'];

const azureEnv = () => ({ AZURE_STORAGE_CONNECTION_STRING: inject('azureConnectionString') });

beforeAll(async () => {
  await createBucket(bucket);
  await createContainer(container);
  const objects = [...archives.map((a) => ({ key: `${a.apiKey}/${a.id}/archive.mp4`, size: a.size })), ...noise.map((key) => ({ key, size: 5 }))];
  await Promise.all(objects.flatMap(({ key, size }) => [putS3Object(bucket, key, randomBytes(size)), putBlob(container, key, randomBytes(size))]));
});

const stores = [
  { name: 's3', spec: () => `s3://${bucket}`, env: () => s3Env() },
  { name: 'azure', spec: () => `azure://${container}`, env: azureEnv },
];

describe.each(stores)('list $name', (store) => {
  test('--json lists exactly the Vonage archives with id, api key, size and uri', async () => {
    const result = await runCli(['list', store.spec(), '--json'], { env: store.env() });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listing = JSON.parse(result.stdout) as { count: number; items: { id: string; apiKey: string; size: number; uri: string; lastModified: string }[] };
    expect(listing.count).toBe(archives.length);
    const byId = new Map(listing.items.map((item) => [item.id, item]));
    for (const archive of archives) {
      expect(byId.get(archive.id)).toMatchObject({
        apiKey: archive.apiKey,
        size: archive.size,
        uri: `${store.spec()}/${archive.apiKey}/${archive.id}/archive.mp4`,
      });
      expect(Number.isNaN(Date.parse(byId.get(archive.id)?.lastModified ?? ''))).toBe(false);
    }
  });

  test('--api-key narrows to one project; the table shows human sizes', async () => {
    const result = await runCli(['list', store.spec(), '--api-key', '46372'], { env: store.env() });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ARCHIVE ID\s+API KEY\s+SIZE\s+LAST MODIFIED$/);
    expect(lines).toHaveLength(3);
    expect(result.stdout).toMatch(/b40ef09b-3811-4726-b508-e41a0f96c68f\s+46372\s+3 MiB\s+\d{4}-/);
    expect(result.stdout).toMatch(/0c3a9d9e-1111-4000-8000-000000000001\s+46372\s+1000 B/);
    expect(result.stdout).not.toContain('99999');
  });

  test('a project without archives prints a note and exits 0', async () => {
    const result = await runCli(['list', store.spec(), '--api-key', '12345'], { env: store.env() });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^no Vonage archives .* found in /);
  });
});

/** Storage failures: exit 5, exactly one line on stderr, naming the store, no secrets. */
const failures: { name: string; args: () => string[]; env: () => NodeJS.ProcessEnv; message: RegExp }[] = [
  { name: 's3 bucket not found', args: () => ['list', 's3://no-such-bucket-cli'], env: () => s3Env(), message: /s3:\/\/no-such-bucket-cli\/: bucket not found; check/ },
  {
    name: 's3 wrong credentials',
    args: () => ['list', `s3://${bucket}`],
    env: () => ({ ...s3Env(), AWS_ACCESS_KEY_ID: 'NOBODY', AWS_SECRET_ACCESS_KEY: 'wrong-secret' }),
    message: /access denied .*InvalidAccessKeyId.*check the AWS credentials/,
  },
  {
    name: 's3 unreachable endpoint',
    args: () => ['list', `s3://${bucket}`, '--s3-endpoint', 'http://127.0.0.1:1', '--retries', '1'],
    env: () => s3Env(),
    message: /cannot reach the storage endpoint \(ECONNREFUSED\); check --s3-endpoint.*gave up after 2 attempts/,
  },
  { name: 'azure container not found', args: () => ['list', 'azure://no-such-container'], env: azureEnv, message: /container not found/ },
  {
    name: 'azure wrong account key',
    args: () => ['list', `azure://${container}`],
    env: () => ({ AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(inject('azureBlobEndpoint'), Buffer.alloc(64, 7).toString('base64')) }),
    message: /access denied \(403 AuthorizationFailure\)/,
  },
  {
    name: 'azure no connection string',
    args: () => ['list', `azure://${container}`, '--azure-connection-string-env', 'NOT_SET_ANYWHERE'],
    env: () => ({}),
    message: /no credentials; set NOT_SET_ANYWHERE/,
  },
];

test.each(failures)('$name: exit 5 and one line', async ({ args, env, message }) => {
  const result = await runCli(args(), { env: env() });
  expectOneLineError(result, 5, message);
  expect(result.stdout).toBe('');
  expect(result.stderr).not.toMatch(/wrong-secret|AccountKey=/);
});

test.each([
  [['list', 'https://example.com/archives'], /not a bucket or container/],
  [['list', 's3://ab'], /not a valid bucket name/],
  [['decrypt', 's3://valid-bucket/archive.mp4', '--key', 'k.pem', '--password', 'AAAA', '--part-size', '12 parsecs'], /--part-size must be a size/],
  [['decrypt', 's3://valid-bucket/archive.mp4', '--key', 'k.pem', '--password', 'AAAA', '--download-concurrency', '0'], /--download-concurrency must be a whole number from 1 to 64/],
  // list reads no object: it has no download flags.
  [['list', 's3://valid-bucket', '--part-size', '8MiB'], /unknown option '--part-size'/],
  [['list', 's3://valid-bucket', '--page-size', '0'], /--page-size must be a whole number from 1 to 5000/],
  [['list', 's3://valid-bucket', '--page-size', '5001'], /--page-size must be a whole number from 1 to 5000/],
  [['list', 's3://valid-bucket', '--s3-endpoint', 'ftp://example.com'], /--s3-endpoint must be a URL/],
  [['list', 'azure://valid-container', '--azure-connection-string-env', 'AccountName=x;AccountKey=y'], /takes the name of an environment variable/],
])('%j is a usage error (exit 2)', async (args, message) => {
  const result = await runCliInProcess(args);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toContain('AccountKey=y');
});

test('in process, S3 credentials come from the run environment, not the process environment', async () => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, profile: process.env.AWS_PROFILE };
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  delete process.env.AWS_PROFILE;
  try {
    const result = await runCliInProcess(['list', `s3://${bucket}`, '--json'], s3Env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { count: number }).count).toBe(archives.length);
    // The same run with a wrong key pair in its environment is refused: the pair really is the one used.
    const wrong = await runCliInProcess(['list', `s3://${bucket}`], { ...s3Env(), AWS_ACCESS_KEY_ID: 'NOBODY', AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    expect(wrong.code).toBe(5);
  } finally {
    if (saved.id !== undefined) process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret !== undefined) process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    if (saved.profile !== undefined) process.env.AWS_PROFILE = saved.profile;
  }
});
