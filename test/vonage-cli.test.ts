import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseArchiveText } from '../src/vonage/archive.js';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess as cli } from './support/cli-in-process.js';
import { createBucket, s3Credentials, uniqueName } from './support/emulators.js';
import { startVonageStub, type VonageStub } from './support/vonage-stub.js';
import { vonageFixture } from './support/vonage-fixture.js';
import { expectOneLineError } from './support/one-line-error.js';

const apiKey = '47000000';
const apiSecret = 'project-api-secret-value';
const password = 'UGFzc3dvcmQgYmxvYiBvZiB0aGUgYXJjaGl2ZQ==';

const item = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  status: 'uploaded',
  size: 67872,
  sha256sum: 'jf0mi3VbIiR27fI5ejtR/NaaDr8eAPi8s3s3p6lDO34=',
  password,
  outputMode: 'composed',
  url: null,
  createdAt: 1767225600000,
  projectId: Number(apiKey),
  ...extra,
});

/** Nothing secret may reach the terminal. */
function expectNoSecrets(...texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(apiSecret);
    expect(text).not.toContain(password);
  }
}

describe('vonage archives / archive / delete (legacy project credentials)', () => {
  let stub: VonageStub;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  beforeAll(async () => {
    stub = await startVonageStub({ kind: 'project', apiKey, apiSecret });
    env = { VONAGE_API_KEY: apiKey, VONAGE_API_SECRET: apiSecret, VONAGE_VIDEO_API_URL: stub.url };
    dir = await tempDir();
  });
  afterAll(() => stub.close());

  it('prints a table without passwords: encrypted, individual and unencrypted archives', async () => {
    stub.archives = [item(1), item(2, { outputMode: 'individual', password: '' }), item(3, { status: 'available', password: '' })];
    const result = await cli(['vonage', 'archives'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ARCHIVE ID\s+STATUS\s+SIZE\s+CREATED\s+MODE\s+ENCRYPTED$/);
    expect(lines[1]).toMatch(new RegExp(`^${item(1).id}\\s+uploaded\\s+66 KiB\\s+2026-01-01T00:00:00.000Z\\s+composed\\s+yes$`));
    expect(lines[2]).toMatch(/individual\s+no$/);
    expect(lines[3]).toMatch(/available .*no$/);
    expect(lines[4]).toBe('3 of 3 archives');
    expectNoSecrets(result.stdout);
  });

  it('--all --output writes every page (1,200 archives) as a 0600 list batch can read; --status filters', async () => {
    stub.archives = Array.from({ length: 1200 }, (_, i) => item(i, i === 7 ? { status: 'failed' } : {}));
    const output = join(dir, 'archives.json');
    const result = await cli(['vonage', 'archives', '--all', '--status', 'uploaded', '--output', output, '--json'], env);
    expect(result.code).toBe(0);
    expect((await stat(output)).mode & 0o777).toBe(0o600);
    const written = JSON.parse(await readFile(output, 'utf8')) as { count: number; items: { id: string; password: string }[] };
    expect(written.count).toBe(1199);
    expect(written.items[0]?.password).toBe(password);
    expect(parseArchiveText(await readFile(output, 'utf8'), output).map((a) => a.id)).toHaveLength(1199);
    const printed = JSON.parse(result.stdout) as { count: number; items: { encrypted: boolean }[] };
    expect(printed.count).toBe(1199);
    expect(printed.items).toHaveLength(1199);
    expect(printed.items.every((i) => i.encrypted)).toBe(true);
    expectNoSecrets(result.stdout);
    // The output is never overwritten.
    const again = await cli(['vonage', 'archives', '--output', output], env);
    expect(again.code).toBe(6);
  });

  it('archive <id> --output writes the archive JSON decrypt --archive-json reads', async () => {
    stub.archives = [item(1)];
    const output = join(dir, 'archive.json');
    const result = await cli(['vonage', 'archive', item(1).id, '--output', output], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(await readFile(output, 'utf8'))).toEqual(item(1));
    expect(result.stdout).toMatch(/encrypted\s+true/);
    expectNoSecrets(result.stdout);
  });

  it('archive delete asks for --yes without a terminal, and deletes with it', async () => {
    stub.archives = [item(1)];
    const refused = await cli(['vonage', 'archive', 'delete', item(1).id], env);
    expect(refused).toMatchObject({ code: 2, stderr: 'archive-crypt: this needs confirmation: run it on a terminal, or give --yes\n' });
    expect(stub.archives).toHaveLength(1);
    const done = await cli(['vonage', 'archive', 'delete', item(1).id, '--yes'], env);
    expect(done).toMatchObject({ code: 0, stderr: `deleted archive ${item(1).id} from Vonage\n` });
    expect(stub.archives).toHaveLength(0);
    expect(stub.requests.at(-1)?.method).toBe('DELETE');
  });

  it.each([
    ['a wrong secret', { VONAGE_API_SECRET: 'wrong' }, ['vonage', 'archives'], 5, /^archive-crypt: Vonage refused the credentials \(HTTP 401: invalid token: bad signature\): check VONAGE_API_KEY and VONAGE_API_SECRET/],
    ['an unknown archive', {}, ['vonage', 'archive', 'nope'], 5, /^archive-crypt: Vonage has no archive nope in project 47000000 \(HTTP 404/],
    ['no credentials', { VONAGE_API_KEY: '', VONAGE_API_SECRET: '' }, ['vonage', 'archives'], 2, /^archive-crypt: no Vonage credentials: set VONAGE_API_KEY and VONAGE_API_SECRET/],
    ['half the credentials', { VONAGE_API_SECRET: '' }, ['vonage', 'archives'], 2, /^archive-crypt: set both VONAGE_API_KEY and VONAGE_API_SECRET\n$/],
    ['--all with --count', {}, ['vonage', 'archives', '--all', '--count', '5'], 2, /give either --all or --offset\/--count/],
    ['a page too large', {}, ['vonage', 'archives', '--count', '1001'], 2, /--count must be a whole number from 1 to 1000/],
    ['plain http to another host', { VONAGE_VIDEO_API_URL: 'http://example.com' }, ['vonage', 'archives'], 2, /must be https:\/\//],
  ])('%s: one line, the documented exit code', async (_name, extra, args, code, message) => {
    stub.archives = [item(1)];
    const result = await cli(args, { ...env, ...extra });
    expectOneLineError(result, code, message);
    expectNoSecrets(result.stderr, result.stdout);
  });

  it('takes the credentials from the config file\'s vonage section (secrets by name), and refuses a literal secret there', async () => {
    stub.archives = [item(1)];
    const config = join(dir, 'archive-crypt.json');
    await writeFile(config, JSON.stringify({ vonage: { apiKey, apiSecretEnv: 'MY_VONAGE_SECRET', apiUrl: stub.url } }));
    const result = await cli(['--config', config, 'vonage', 'archives', '--json'], { MY_VONAGE_SECRET: apiSecret });
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { items: { id: string }[] }).items.map((a) => a.id)).toEqual([item(1).id]);
    const leaked = join(dir, 'leaked.json');
    await writeFile(leaked, JSON.stringify({ vonage: { apiKey, apiSecret } }));
    const refused = await cli(['--config', leaked, 'vonage', 'archives'], {});
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/unknown field vonage.apiSecret \(the file holds paths and variable names, never secrets/);
    expectNoSecrets(refused.stderr);
  });

  it('a 403 is exit 5 with what to check', async () => {
    stub.failNext(403, { message: 'project suspended' });
    const denied = await cli(['vonage', 'archives'], env);
    expect(denied).toMatchObject({ code: 5, stderr: expect.stringMatching(/^archive-crypt: Vonage refused the credentials \(HTTP 403: project suspended\)/) as unknown });
  });
});

describe('vonage with application credentials (RS256)', () => {
  it('lists archives with the application key from VONAGE_PRIVATE_KEY', async () => {
    const applicationId = randomUUID();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const stub = await startVonageStub({ kind: 'application', applicationId, publicKey });
    try {
      stub.archives = [item(1)];
      const dir = await tempDir();
      const keyPath = join(dir, 'private.key');
      await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const env = { VONAGE_APPLICATION_ID: applicationId, VONAGE_PRIVATE_KEY: keyPath };
      const result = await cli(['vonage', 'archives', '--json', '--api-url', stub.url], env);
      expect(result.code).toBe(0);
      expect((JSON.parse(result.stdout) as { items: { id: string }[] }).items[0]?.id).toBe(item(1).id);
      expect(stub.requests.at(-1)?.claims).toMatchObject({ application_id: applicationId });
      expect(result.stdout).not.toContain('PRIVATE KEY');
      // A key others can read is refused, as every private key is.
      await writeFile(join(dir, 'loose.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o644 });
      const loose = await cli(['vonage', 'archives', '--api-url', stub.url], { ...env, VONAGE_PRIVATE_KEY: join(dir, 'loose.key') });
      expect(loose).toMatchObject({ code: 3, stderr: expect.stringMatching(/accessible by group or others .*chmod 600/) as unknown });
    } finally {
      await stub.close();
    }
  });
});

describe('vonage storage set / policy', () => {
  let stub: VonageStub;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const accessKey = 'AKIAVONAGEUPLOAD';
  const secretKey = 'upload-secret-key-value';
  const accountKey = 'YXp1cmUtYWNjb3VudC1rZXktdmFsdWU=';
  beforeAll(async () => {
    stub = await startVonageStub({ kind: 'project', apiKey, apiSecret });
    dir = await tempDir();
    env = { VONAGE_API_KEY: apiKey, VONAGE_API_SECRET: apiSecret, VONAGE_VIDEO_API_URL: stub.url, UP_AK: accessKey, UP_SK: secretKey, AZ_KEY: accountKey };
  });
  afterAll(() => stub.close());
  // --no-key-check: the check would ask Amazon S3 itself; the tests that check give the emulator's endpoint.
  const s3Args = ['vonage', 'storage', 'set', '--no-key-check', '--s3-bucket', 'my-archives', '--s3-access-key-env', 'UP_AK', '--s3-secret-key-env', 'UP_SK'];

  it('--dry-run prints the S3 request with the secrets masked and sends nothing', async () => {
    const before = stub.requests.length;
    const result = await cli([...s3Args, '--certificate', vonageFixture.certPem, '--sse', 's3', '--dry-run'], env);
    expect(result.code).toBe(0);
    expect(stub.requests.length).toBe(before);
    const [first, auth, ...rest] = result.stdout.split('\n');
    expect(first).toBe(`PUT ${stub.url}/v2/project/${apiKey}/archive/storage`);
    expect(auth).toBe('X-OPENTOK-AUTH: <a JWT signed with the API secret, not shown>');
    const body = JSON.parse(rest.join('\n').replace(/\(dry run: nothing was sent\)\n*$/, '')) as Record<string, unknown>;
    expect(body).toMatchObject({ type: 's3', config: { bucket: 'my-archives', accessKey, secretKey: '********', sse: 's3' }, fallback: 'none' });
    expect(result.stdout + result.stderr).not.toContain(secretKey);
    expectNoSecrets(result.stdout, result.stderr);
  });

  it('sends the S3 body with base64 of the PEM file, and warns that the keys can list the bucket', async () => {
    const bucket = uniqueName('vonage-upload');
    await createBucket(bucket);
    const endpoint = inject('s3Endpoint');
    // s3rver's keys may do anything: exactly what the warning is for.
    const result = await cli(
      ['vonage', 'storage', 'set', '--s3-bucket', bucket, '--s3-endpoint', endpoint, '--s3-access-key-env', 'S3_AK', '--s3-secret-key-env', 'S3_SK', '--certificate', vonageFixture.certPem],
      { ...env, S3_AK: s3Credentials.accessKeyId, S3_SK: s3Credentials.secretAccessKey },
    );
    expect(result.code).toBe(0);
    expect(stub.storage).toEqual({
      type: 's3',
      config: { bucket, accessKey: s3Credentials.accessKeyId, secretKey: s3Credentials.secretAccessKey, endpoint, sse: 'none' },
      fallback: 'none',
      certificate: (await readFile(vonageFixture.certPem)).toString('base64'),
    });
    expect(result.stderr).toContain(`archive-crypt: warning: the access key for Vonage can list s3://${bucket}: Vonage needs only s3:PutObject`);
    expect(result.stderr).toContain(`Vonage now uploads archives to s3://${bucket}, encrypted with ${vonageFixture.certPem}, fallback none`);
    expect(result.stderr).not.toContain(s3Credentials.secretAccessKey);
  });

  it('does not warn when the keys cannot list the bucket', async () => {
    const result = await cli(
      ['vonage', 'storage', 'set', '--s3-bucket', uniqueName('vonage-upload'), ...s3Args.slice(6), '--s3-endpoint', inject('s3Endpoint'), '--certificate', vonageFixture.certPem, '--dry-run'],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('sends the Azure body, warning that an account key opens the whole account', async () => {
    const result = await cli(
      ['vonage', 'storage', 'set', '--azure-account', 'myaccount', '--azure-container', 'archives', '--azure-account-key-env', 'AZ_KEY', '--certificate', vonageFixture.certPem, '--fallback', 'opentok'],
      env,
    );
    expect(result.code).toBe(0);
    expect(stub.storage).toEqual({
      type: 'azure',
      config: { accountName: 'myaccount', accountKey, container: 'archives' },
      fallback: 'opentok',
      certificate: (await readFile(vonageFixture.certPem)).toString('base64'),
    });
    expect(result.stderr).toMatch(/warning: an Azure account key opens the whole storage account/);
    expect(result.stderr).not.toContain(accountKey);
  });

  it('--no-certificate needs --yes without a terminal, then sends "certificate": null', async () => {
    stub.storage = undefined;
    const refused = await cli([...s3Args, '--no-certificate'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/needs confirmation.*--yes/);
    expect(stub.storage).toBeUndefined();
    const done = await cli([...s3Args, '--no-certificate', '--yes'], env);
    expect(done.code).toBe(0);
    expect(stub.storage).toMatchObject({ type: 's3', certificate: null, fallback: 'none' });
    expect(done.stderr).toMatch(/UNENCRYPTED/);
  });

  it('refuses certificates Vonage would reject, and files holding a private key, before sending', async () => {
    const big = join(dir, 'big-cert.pem');
    await openssl(['req', '-x509', '-newkey', 'rsa:3072', '-nodes', '-keyout', join(dir, 'big-key.pem'), '-out', big, '-subj', '/CN=too big', '-days', '2']);
    const bundle = join(dir, 'bundle.pem');
    await writeFile(bundle, `${await readFile(vonageFixture.certPem, 'utf8')}${await readFile(join(dir, 'big-key.pem'), 'utf8')}`, { mode: 0o600 });
    const before = stub.requests.length;
    const tooBig = await cli([...s3Args, '--certificate', big], env);
    expect(tooBig).toMatchObject({ code: 3, stderr: expect.stringMatching(new RegExp(`^archive-crypt: Vonage would reject ${big}: .*3072`)) as unknown });
    const withKey = await cli([...s3Args, '--certificate', bundle], env);
    expect(withKey).toMatchObject({ code: 3, stderr: expect.stringMatching(/also holds a private key/) as unknown });
    expect(stub.requests.length).toBe(before);
  });

  it.each([
    ['neither store', ['vonage', 'storage', 'set', '--certificate', 'x.pem'], /give either the --s3-… options or the --azure-… options/],
    ['both stores', [...s3Args, '--azure-account', 'a', '--certificate', 'x.pem'], /give either the --s3-… options or the --azure-… options/],
    ['no certificate choice', s3Args, /give --certificate FILE .* or --no-certificate/],
    ['an unset secret variable', [...s3Args.slice(0, -1), 'NOT_SET', '--certificate', 'x.pem'], /NOT_SET \(--s3-secret-key-env\) is not set/],
    ['a bad fallback', [...s3Args, '--certificate', 'x.pem', '--fallback', 'vonage'], /--fallback.*vonage.*invalid/i],
  ])('usage: %s (exit 2)', async (_name, args, message) => {
    const result = await cli(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('storage policy prints the upload and the decrypt policies for the prefix', async () => {
    const result = await cli(['vonage', 'storage', 'policy', '--s3-bucket', 'my-archives', '--api-key', apiKey], {});
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      vonageUpload: {
        Version: '2012-10-17',
        Statement: [{ Sid: 'VonageArchiveUpload', Effect: 'Allow', Action: ['s3:PutObject'], Resource: `arn:aws:s3:::my-archives/${apiKey}/*` }],
      },
      decryptHosts: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'ReadArchives', Effect: 'Allow', Action: ['s3:GetObject'], Resource: `arn:aws:s3:::my-archives/${apiKey}/*` },
          { Sid: 'ListArchives', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: 'arn:aws:s3:::my-archives', Condition: { StringLike: { 's3:prefix': [`${apiKey}/*`] } } },
        ],
      },
    });
    const whole = JSON.parse((await cli(['vonage', 'storage', 'policy', '--s3-bucket', 'my-archives'], {})).stdout) as { decryptHosts: { Statement: { Resource: string; Condition?: unknown }[] } };
    expect(whole.decryptHosts.Statement[0]?.Resource).toBe('arn:aws:s3:::my-archives/*');
    expect(whole.decryptHosts.Statement[1]?.Condition).toBeUndefined();
    expect((await cli(['vonage', 'storage', 'policy', '--s3-bucket', 'Bad_Bucket'], {})).code).toBe(2);
  });
});
