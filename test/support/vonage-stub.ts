/**
 * A loopback stub of the Vonage Video REST API, written from the documented contract
 * (tokbox.com/developer/rest: listing archives with offset/count ≤ 1000, one archive, delete, set archive
 * storage; developer.vonage.com/en/video/guides/archiving/encryption). It verifies every request's token
 * on its own, with node:crypto only — not through jose, which signs them — and answers 401 to anything
 * that is not a current, well-formed token of the expected form:
 * - project: `X-OPENTOK-AUTH`, HS256 over the API secret, `iss` = API key, `ist` = "project", numeric `iat`
 *   and `exp` (in the future, at most 5 minutes after `iat`), a `jti`;
 * - application: `Authorization: Bearer`, RS256 by the application key, `application_id`, `iat`, `exp`, `jti`.
 * It also serves fallback-storage archive files (the `url` of an archive Vonage holds) with ranged GETs.
 */
import { createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubAuth = { kind: 'project'; apiKey: string; apiSecret: string } | { kind: 'application'; applicationId: string; publicKey: KeyObject };

export interface StubRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The verified token's claims (requests that failed verification are recorded with `rejected`). */
  claims?: Record<string, unknown>;
  rejected?: string;
}

export interface VonageStub {
  /** Base URL for `--api-url` / `VONAGE_VIDEO_API_URL`. */
  url: string;
  /** The project's archives, newest first (Vonage's order); tests may change it. */
  archives: Record<string, unknown>[];
  /** Every request, in order. */
  requests: StubRequest[];
  /** The last accepted `PUT …/archive/storage` body. */
  storage: unknown;
  /** Answers the next `times` API requests with `status` (and `Retry-After`, when given). */
  failNext(status: number, options?: { times?: number; retryAfter?: string; message?: string }): void;
  /** Serves `bytes` at `/fallback/<id>/archive.mp4` and returns that URL (for an archive's `url`). */
  serveFallback(id: string, bytes: Buffer): string;
  close(): Promise<void>;
}

const MAX_TOKEN_LIFETIME = 300;

export async function startVonageStub(auth: StubAuth): Promise<VonageStub> {
  const projectId = auth.kind === 'project' ? auth.apiKey : auth.applicationId;
  const faults: { status: number; retryAfter?: string; message?: string }[] = [];
  const files = new Map<string, Buffer>();

  const stub: VonageStub = {
    url: '',
    archives: [],
    requests: [],
    storage: undefined,
    failNext(status, options = {}) {
      for (let i = 0; i < (options.times ?? 1); i++) faults.push({ status, ...options });
    },
    serveFallback(id, bytes) {
      files.set(id, bytes);
      return `${stub.url}/fallback/${id}/archive.mp4`;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://stub');
    const fallback = /^\/fallback\/([^/]+)\/archive\.mp4$/.exec(url.pathname);
    if (fallback && request.method === 'GET') return serveFile(request, response, files.get(fallback[1] ?? ''));

    const text = await readBody(request);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const record: StubRequest = { method: request.method ?? '', path: url.pathname, query: url.searchParams, body };
    stub.requests.push(record);
    const verdict = verifyToken(auth, request.headers);
    if (typeof verdict === 'string') {
      record.rejected = verdict;
      return send(response, 401, { code: 401, message: `invalid token: ${verdict}` });
    }
    record.claims = verdict;
    const fault = faults.shift();
    if (fault) {
      return send(response, fault.status, { code: fault.status, message: fault.message ?? 'injected fault' }, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
    }

    const route = /^\/v2\/project\/([^/]+)\/archive(?:\/([^/]+))?$/.exec(url.pathname);
    if (!route) return send(response, 404, { code: 404, message: 'no such resource' });
    // A token for one project does not open another one.
    if (route[1] !== projectId) return send(response, 403, { code: 403, message: 'project mismatch' });
    const id = route[2];
    if (id === 'storage' && request.method === 'PUT') {
      const problem = storageProblem(body);
      if (problem) return send(response, 400, { code: 400, message: problem });
      stub.storage = body;
      return send(response, 200, body);
    }
    if (id === undefined && request.method === 'GET') {
      const offset = Number(url.searchParams.get('offset') ?? '0');
      const count = Number(url.searchParams.get('count') ?? '50');
      if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(count) || count < 1 || count > 1000) {
        return send(response, 400, { code: 400, message: 'offset or count out of range' });
      }
      const sessionId = url.searchParams.get('sessionId');
      const matching = sessionId === null ? stub.archives : stub.archives.filter((archive) => archive.sessionId === sessionId);
      return send(response, 200, { count: matching.length, items: matching.slice(offset, offset + count) });
    }
    const index = stub.archives.findIndex((archive) => archive.id === id);
    if (index === -1) return send(response, 404, { code: 404, message: 'archive not found' });
    if (request.method === 'GET') return send(response, 200, stub.archives[index]);
    if (request.method === 'DELETE') {
      stub.archives.splice(index, 1);
      response.writeHead(204).end();
      return;
    }
    return send(response, 405, { code: 405, message: 'method not allowed' });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => send(response, 500, { code: 500, message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stub;
}

/** Returns the claims, or why the request is refused. */
function verifyToken(auth: StubAuth, headers: IncomingMessage['headers']): Record<string, unknown> | string {
  const raw = auth.kind === 'project' ? headers['x-opentok-auth'] : /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
  if (typeof raw !== 'string') return auth.kind === 'project' ? 'no X-OPENTOK-AUTH header' : 'no Authorization: Bearer header';
  const parts = raw.split('.');
  if (parts.length !== 3) return 'not a JWS';
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodePart(headerPart);
  const claims = decodePart(payloadPart);
  if (!header || !claims) return 'malformed token';
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  if (auth.kind === 'project') {
    if (header.alg !== 'HS256') return `algorithm ${String(header.alg)}`;
    const expected = createHmac('sha256', auth.apiSecret).update(signed).digest();
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return 'bad signature';
    if (claims.iss !== auth.apiKey) return 'iss is not the API key';
    if (claims.ist !== 'project') return 'ist is not "project"';
  } else {
    if (header.alg !== 'RS256') return `algorithm ${String(header.alg)}`;
    if (!verify('sha256', signed, auth.publicKey, signature)) return 'bad signature';
    if (claims.application_id !== auth.applicationId) return 'application_id mismatch';
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number') return 'iat and exp required';
  if (claims.exp <= now) return 'expired';
  if (claims.iat > now + 60) return 'issued in the future';
  if (claims.exp - claims.iat > MAX_TOKEN_LIFETIME) return 'exp more than 5 minutes after iat';
  if (typeof claims.jti !== 'string' || claims.jti === '') return 'jti required';
  return claims;
}

/** What the documented storage body needs (tokbox.com/developer/rest/#set_archive_storage). */
function storageProblem(body: unknown): string | undefined {
  const target = body as { type?: unknown; config?: Record<string, unknown>; fallback?: unknown; certificate?: unknown } | undefined;
  if (typeof target !== 'object' || target === null || typeof target.config !== 'object' || target.config === null) return 'type and config required';
  const needs = target.type === 's3' ? ['bucket', 'accessKey', 'secretKey'] : target.type === 'azure' ? ['accountName', 'accountKey', 'container'] : undefined;
  if (!needs) return 'type must be s3 or azure';
  const config = target.config;
  for (const field of needs) if (typeof config[field] !== 'string' || config[field] === '') return `config.${field} required`;
  if (target.fallback !== 'none' && target.fallback !== 'opentok') return 'fallback must be none or opentok';
  if (target.certificate !== null && typeof target.certificate !== 'string') return 'certificate must be a string or null';
  if (typeof target.certificate === 'string' && !Buffer.from(target.certificate, 'base64').toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    return 'certificate is not a base64 PEM certificate';
  }
  return undefined;
}

function serveFile(request: IncomingMessage, response: ServerResponse, bytes: Buffer | undefined): void {
  if (!bytes) return send(response, 404, { message: 'no such file' });
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
  if (!range) {
    response.writeHead(200, { 'content-length': bytes.length, etag: '"fallback"' }).end(bytes);
    return;
  }
  const start = Number(range[1]);
  const end = Math.min(range[2] ? Number(range[2]) : bytes.length - 1, bytes.length - 1);
  response
    .writeHead(206, { 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'content-length': end - start + 1, etag: '"fallback"' })
    .end(bytes.subarray(start, end + 1));
}

function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(json);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
}
