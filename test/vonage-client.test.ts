import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError, UsageError } from '../src/errors.js';
import { VonageClient, parseRetryAfter } from '../src/vonage/client.js';
import type { VonageCredentials } from '../src/vonage/token.js';
import { startVonageStub, type VonageStub } from './support/vonage-stub.js';

const apiKey = '47000000';
const apiSecret = 'project-api-secret';
const applicationId = randomUUID();
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const archive = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  status: 'uploaded',
  size: 1000 + i,
  sha256sum: 'c2hh',
  password: 'cGFzc3dvcmQ=',
  outputMode: 'composed',
  url: null,
  createdAt: 1767225600000 + i,
  projectId: Number(apiKey),
  sessionId: i % 2 === 0 ? 'session-even' : 'session-odd',
  ...extra,
});

const noWait = () => Promise.resolve();

describe.each([
  ['legacy OpenTok project (HS256, X-OPENTOK-AUTH)', 'project'],
  ['Vonage application (RS256, Authorization: Bearer)', 'application'],
] as const)('Vonage REST client, %s', (_name, kind) => {
  let stub: VonageStub;
  let client: VonageClient;
  const credentials: VonageCredentials = kind === 'project' ? { kind, apiKey, apiSecret } : { kind, applicationId, privateKey };

  beforeAll(async () => {
    stub = await startVonageStub(kind === 'project' ? { kind, apiKey, apiSecret } : { kind, applicationId, publicKey });
    client = new VonageClient({ credentials, apiUrl: stub.url, sleep: noWait });
  });
  afterAll(() => stub.close());

  it('lists, reads and deletes archives with a token the stub verified', async () => {
    stub.archives = [archive(1), archive(2)];
    const page = await client.listArchives({ count: 10 });
    expect(page.count).toBe(2);
    expect(page.items.map((item) => item.id)).toEqual([archive(1).id, archive(2).id]);
    expect(await client.getArchive(archive(2).id)).toMatchObject({ password: 'cGFzc3dvcmQ=', size: 1002 });
    await client.deleteArchive(archive(1).id);
    expect(stub.archives.map((item) => item.id)).toEqual([archive(2).id]);
    const last = stub.requests.at(-1);
    expect(last?.rejected).toBeUndefined();
    expect(last?.method).toBe('DELETE');
    expect(last?.claims).toMatchObject(kind === 'project' ? { iss: apiKey, ist: 'project' } : { application_id: applicationId });
    // Each request gets a fresh token.
    const ids = stub.requests.map((request) => request.claims?.jti);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('follows every page (2,500 archives in pages of 1,000), filtered by session', async () => {
    stub.archives = Array.from({ length: 2500 }, (_, i) => archive(i));
    stub.requests.length = 0;
    const all = await client.listAllArchives();
    expect(all.count).toBe(2500);
    expect(new Set(all.items.map((item) => item.id)).size).toBe(2500);
    expect(stub.requests.map((request) => [request.query.get('offset'), request.query.get('count')])).toEqual([
      ['0', '1000'],
      ['1000', '1000'],
      ['2000', '1000'],
    ]);
    const odd = await client.listAllArchives({ sessionId: 'session-odd' });
    expect(odd.count).toBe(1250);
    expect(odd.items.every((item) => item.sessionId === 'session-odd')).toBe(true);
  });

  it('sends the storage target as the JSON body', async () => {
    const target = { type: 's3' as const, config: { bucket: 'b', accessKey: 'AK', secretKey: 'SK' }, fallback: 'none' as const, certificate: null };
    await client.setStorage(target);
    expect(stub.storage).toEqual(target);
    expect(stub.requests.at(-1)).toMatchObject({ method: 'PUT', path: `/v2/project/${kind === 'project' ? apiKey : applicationId}/archive/storage` });
  });
});

describe('Vonage REST client failures', () => {
  let stub: VonageStub;
  const credentials: VonageCredentials = { kind: 'project', apiKey, apiSecret };
  beforeAll(async () => {
    stub = await startVonageStub({ kind: 'project', apiKey, apiSecret });
    stub.archives = [archive(1)];
  });
  afterAll(() => stub.close());

  it('the stub itself refuses tokens that are not right (it can fail)', async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const hs256 = (claims: unknown, alg = 'HS256') => {
      const input = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
      return `${input}.${createHmac('sha256', apiSecret).update(input).digest('base64url')}`;
    };
    const good = { iss: apiKey, ist: 'project', iat: now, exp: now + 60, jti: 'x' };
    const cases: [string, string, RegExp][] = [
      ['good', hs256(good), /^$/],
      ['expired', hs256({ ...good, iat: now - 400, exp: now - 100 }), /expired/],
      ['too long-lived', hs256({ ...good, exp: now + 3600 }), /5 minutes/],
      ['wrong ist', hs256({ ...good, ist: 'account' }), /ist/],
      ['no jti', hs256({ ...good, jti: undefined }), /jti/],
      ['HS512', hs256(good, 'HS512'), /algorithm HS512/],
      ['alg none', `${b64({ alg: 'none' })}.${b64(good)}.`, /algorithm none/],
    ];
    for (const [name, token, reason] of cases) {
      const response = await fetch(`${stub.url}/v2/project/${apiKey}/archive`, { headers: { 'x-opentok-auth': token } });
      expect([name, response.status]).toEqual([name, name === 'good' ? 200 : 401]);
      expect([name, stub.requests.at(-1)?.rejected ?? '']).toEqual([name, expect.stringMatching(reason)]);
    }
  });

  it.each([
    ['a wrong secret (401)', () => new VonageClient({ credentials: { ...credentials, apiSecret: 'wrong' }, apiUrl: stub.url }).listArchives(), 'ERR_ACCESS_DENIED', /^Vonage refused the credentials \(HTTP 401: invalid token: bad signature\): check VONAGE_API_KEY and VONAGE_API_SECRET/],
    ['a token of another project (401)', () => new VonageClient({ credentials: { ...credentials, apiKey: '1' }, apiUrl: stub.url }).listArchives(), 'ERR_ACCESS_DENIED', /^Vonage refused the credentials \(HTTP 401/],
    ['an unknown archive (404)', () => new VonageClient({ credentials, apiUrl: stub.url }).getArchive('no-such-archive'), 'ERR_NOT_FOUND', /^Vonage has no archive no-such-archive in project 47000000 \(HTTP 404: archive not found\): check the archive id$/],
  ])('%s', async (_name, call, code, message) => {
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe(code);
    expect((error as StorageError).exitCode).toBe(5);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(apiSecret);
  });

  it('maps 403 to the credentials message', async () => {
    stub.failNext(403, { message: 'forbidden' });
    await expect(new VonageClient({ credentials, apiUrl: stub.url }).listArchives()).rejects.toThrow(/^Vonage refused the credentials \(HTTP 403: forbidden\)/);
  });

  it('retries 429 and 5xx, waiting at least what Retry-After asks', async () => {
    const waits: number[] = [];
    const client = new VonageClient({ credentials, apiUrl: stub.url, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    stub.failNext(429, { retryAfter: '7' });
    stub.failNext(503, { retryAfter: new Date(Date.now() + 20_000).toUTCString() });
    stub.failNext(500);
    const before = stub.requests.length;
    expect((await client.getArchive(archive(1).id)).id).toBe(archive(1).id);
    expect(stub.requests.length - before).toBe(4);
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThanOrEqual(7000);
    expect(waits[1]).toBeGreaterThanOrEqual(18_000);
    expect(waits[2]).toBeLessThan(7000);
  });

  it('gives up after the retries, and at once on a Retry-After longer than it waits', async () => {
    const client = new VonageClient({ credentials, apiUrl: stub.url, sleep: noWait, retry: { retries: 2 } });
    stub.failNext(502, { times: 3 });
    await expect(client.listArchives()).rejects.toThrow(/^Vonage answered HTTP 502: injected fault for the archive list \(gave up after 3 attempts\)$/);
    stub.failNext(429, { retryAfter: '3600' });
    const before = stub.requests.length;
    await expect(client.listArchives()).rejects.toThrow(/asks to retry after 3600 s: run the command again later/);
    expect(stub.requests.length - before).toBe(1);
  });

  it('reports a rejected request body (400) with Vonage\'s message, without retrying', async () => {
    const client = new VonageClient({ credentials, apiUrl: stub.url, sleep: noWait });
    const before = stub.requests.length;
    await expect(client.setStorage({ type: 's3', config: { bucket: 'b' }, fallback: 'none', certificate: null })).rejects.toThrow(
      /^Vonage refused the request for the archive storage target \(HTTP 400: config.accessKey required\)$/,
    );
    expect(stub.requests.length - before).toBe(1);
  });

  it('cannot reach a closed port: a storage error after the retries', async () => {
    const closed = await startVonageStub({ kind: 'project', apiKey, apiSecret });
    await closed.close();
    const client = new VonageClient({ credentials, apiUrl: closed.url, sleep: noWait, retry: { retries: 1 } });
    await expect(client.listArchives()).rejects.toThrow(/cannot reach .*ECONNREFUSED.*check --api-url \(VONAGE_VIDEO_API_URL\).*gave up after 2 attempts/);
  });

  it.each([
    ['plain http off loopback', 'http://api.example.com', /must be https:\/\//],
    ['not a URL', 'api.opentok.com', /is not a URL/],
  ])('refuses an API URL that is %s', (_name, apiUrl, message) => {
    expect(() => new VonageClient({ credentials, apiUrl })).toThrow(UsageError);
    expect(() => new VonageClient({ credentials, apiUrl })).toThrow(message);
  });

  it('checks page sizes and archive ids before sending anything', async () => {
    const client = new VonageClient({ credentials, apiUrl: stub.url });
    await expect(client.listArchives({ count: 1001 })).rejects.toThrow(/count must be a whole number from 1 to 1000/);
    await expect(client.getArchive('../storage')).rejects.toThrow(/is not an archive id/);
  });

  it.each([
    ['seconds', '120', 120_000],
    ['a date', new Date(Date.UTC(2026, 0, 1, 0, 1)).toUTCString(), 60_000],
    ['nothing', null, 0],
    ['garbage', 'soon', 0],
  ])('reads Retry-After given as %s', (_name, value, ms) => {
    expect(parseRetryAfter(value, Date.UTC(2026, 0, 1))).toBe(ms);
  });
});
