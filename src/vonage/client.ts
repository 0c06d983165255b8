/**
 * A small client of the Vonage Video REST API over `fetch`: the archive list (paged), one archive,
 * deleting an archive, and the archive upload target (`PUT …/archive/storage`). Sources:
 * tokbox.com/developer/rest/#listing_archives, #retrieve_archive_info, #delete_archive,
 * #set_archive_storage and developer.vonage.com/en/video/guides/archiving/encryption.
 *
 * The official SDKs were weighed: `opentok` has no storage endpoint, `@vonage/video` needs Node 22 and
 * its types drop `password` and `sha256sum`. Four endpoints and two token forms are less than either.
 *
 * Contract: 401/403 and 404 fail at once with a StorageError naming what to check; 429, 5xx and
 * network failures are retried with backoff, waiting at least what `Retry-After` asks.
 */
import { AbortError, StorageError, UsageError } from '../errors.js';
import { backoffDelay, classifyNetworkError, resolveRetryPolicy, sleep, type RetryPolicy } from '../storage/retry.js';
import { isLoopbackHost } from '../storage/uri.js';
import { authorizationHeader, defaultApiUrls, projectIdOf, type VonageCredentials } from './token.js';

/** One archive as Vonage sends it (every field kept, so that files we write read like Vonage's). */
export type ArchiveJson = Record<string, unknown> & { id: string };

/** The list response: `count` is the total in the project, `items` one page. */
export interface ArchiveListJson {
  count: number;
  items: ArchiveJson[];
}

/** The body of `PUT …/archive/storage`. */
export interface StorageTarget {
  type: 's3' | 'azure';
  config: Record<string, string>;
  fallback: 'none' | 'opentok';
  /** base64 of the whole PEM certificate file; `null` turns encryption off. */
  certificate: string | null;
}

export interface VonageClientOptions {
  credentials: VonageCredentials;
  /** Replaces the default base URL of the credentials' form (tests, proxies). */
  apiUrl?: string;
  /** What to tell the user to check when Vonage refuses the credentials. */
  credentialHint?: string;
  retry?: Partial<RetryPolicy>;
  /** Longest `Retry-After` we wait for; a longer one fails at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** For tests: how waiting is done. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The most items Vonage returns per page. */
export const MAX_PAGE_SIZE = 1000;

export class VonageClient {
  readonly projectId: string;
  readonly baseUrl: URL;
  /** Which form of credentials (and so which header) the client uses. */
  readonly kind: VonageCredentials['kind'];
  private readonly policy: RetryPolicy;

  constructor(private readonly options: VonageClientOptions) {
    this.projectId = projectIdOf(options.credentials);
    this.kind = options.credentials.kind;
    this.baseUrl = parseApiUrl(options.apiUrl ?? defaultApiUrls[options.credentials.kind]);
    this.policy = resolveRetryPolicy(options.retry);
  }

  /**
   * One page of the archive list.
   *
   * @example
   * ```ts
   * const page = await client.listArchives({ offset: 0, count: 50 });
   * console.log(page.count, page.items.map((archive) => archive.id));
   * ```
   */
  async listArchives(query: { offset?: number; count?: number; sessionId?: string } = {}, signal?: AbortSignal): Promise<ArchiveListJson> {
    const count = query.count ?? 50;
    if (!Number.isInteger(count) || count < 1 || count > MAX_PAGE_SIZE) throw new UsageError(`count must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
    const offset = query.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new UsageError('offset must be a whole number from 0');
    const params = new URLSearchParams({ offset: String(offset), count: String(count) });
    if (query.sessionId !== undefined) params.set('sessionId', query.sessionId);
    const json = await this.request('GET', `archive?${params.toString()}`, { what: 'the archive list' }, signal);
    return toListJson(json);
  }

  /** Every archive of the project (or session), following the pages of at most 1000. */
  async listAllArchives(query: { sessionId?: string } = {}, signal?: AbortSignal): Promise<ArchiveListJson> {
    const items = new Map<string, ArchiveJson>();
    for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
      const page = await this.listArchives({ ...query, offset, count: MAX_PAGE_SIZE }, signal);
      // An archive started while we page shifts the list by one: keep each id once.
      for (const item of page.items) if (!items.has(item.id)) items.set(item.id, item);
      if (page.items.length < MAX_PAGE_SIZE || offset + MAX_PAGE_SIZE >= page.count) break;
    }
    return { count: items.size, items: [...items.values()] };
  }

  /** One archive, with its password, sha256sum and (for fallback storage) url. */
  async getArchive(archiveId: string, signal?: AbortSignal): Promise<ArchiveJson> {
    const json = await this.request('GET', `archive/${archivePath(archiveId)}`, { what: `archive ${archiveId}`, archiveId }, signal);
    const archive = toArchiveJson(json);
    if (archive === undefined) throw unexpectedAnswer(`archive ${archiveId}`);
    return archive;
  }

  /** Deletes an archive (and Vonage's copy of its file, if it holds one). */
  async deleteArchive(archiveId: string, signal?: AbortSignal): Promise<void> {
    await this.request('DELETE', `archive/${archivePath(archiveId)}`, { what: `archive ${archiveId}`, archiveId }, signal);
  }

  /** Sets where Vonage uploads archives, and the certificate it encrypts them with. */
  async setStorage(target: StorageTarget, signal?: AbortSignal): Promise<void> {
    await this.request('PUT', 'archive/storage', { what: 'the archive storage target', body: target }, signal);
  }

  /** The URL of a path under the project, for messages and `--dry-run`. */
  urlOf(path: string): URL {
    return new URL(`v2/project/${encodeURIComponent(this.projectId)}/${path}`, this.baseUrl);
  }

  private async request(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    about: { what: string; archiveId?: string; body?: unknown },
    signal?: AbortSignal,
  ): Promise<unknown> {
    const url = this.urlOf(path);
    const wait = this.options.sleep ?? sleep;
    for (let attempt = 0; ; attempt++) {
      let failure: StorageError;
      let retryAfterMs = 0;
      try {
        const auth = await authorizationHeader(this.options.credentials);
        const response = await fetch(url, {
          method,
          headers: {
            [auth.name]: auth.value,
            accept: 'application/json',
            ...(about.body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(about.body !== undefined ? { body: JSON.stringify(about.body) } : {}),
          ...(signal ? { signal } : {}),
        });
        const text = await response.text();
        if (response.ok) return text === '' ? undefined : parseJson(text, about.what);
        const transient = response.status === 429 || response.status >= 500;
        failure = this.statusError(response.status, vonageMessage(text), about);
        if (!transient) throw failure;
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
        const maxRetryAfterMs = this.options.maxRetryAfterMs ?? 60_000;
        if (retryAfterMs > maxRetryAfterMs) {
          throw new StorageError(`${failure.message}; it asks to retry after ${Math.ceil(retryAfterMs / 1000)} s: run the command again later`);
        }
      } catch (error) {
        if (error instanceof StorageError) throw error;
        if (signal?.aborted) throw new AbortError('cancelled', { cause: error });
        const network = classifyNetworkError(error, `Vonage API ${this.baseUrl.host}`, '--api-url (VONAGE_VIDEO_API_URL)');
        if (network === undefined) {
          // fetch's own refusals (a blocked port, a malformed answer) are not worth another attempt.
          const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
          throw new StorageError(`Vonage API ${this.baseUrl.host}: request failed (${cause}); check --api-url (VONAGE_VIDEO_API_URL)`, { cause: error });
        }
        if (!network.transient) throw network.error;
        failure = network.error;
      }
      if (attempt >= this.policy.retries) throw new StorageError(`${failure.message} (gave up after ${attempt + 1} attempts)`, { code: failure.code });
      await wait(Math.max(retryAfterMs, backoffDelay(attempt + 1, this.policy)), signal);
    }
  }

  private statusError(status: number, message: string, about: { what: string; archiveId?: string }): StorageError {
    const detail = message === '' ? `HTTP ${status}` : `HTTP ${status}: ${message}`;
    if (status === 401 || status === 403) {
      const hint = this.options.credentialHint ?? defaultCredentialHints[this.options.credentials.kind];
      return new StorageError(`Vonage refused the credentials (${detail}): check ${hint}`, { code: 'ERR_ACCESS_DENIED' });
    }
    if (status === 404) {
      const text =
        about.archiveId !== undefined
          ? `Vonage has no archive ${about.archiveId} in project ${this.projectId} (${detail}): check the archive id`
          : `Vonage has no project ${this.projectId} at ${this.baseUrl.host} (${detail}): check the project id and --api-url`;
      return new StorageError(text, { code: 'ERR_NOT_FOUND' });
    }
    if (status === 429 || status >= 500) return new StorageError(`Vonage answered ${detail} for ${about.what}`);
    return new StorageError(`Vonage refused the request for ${about.what} (${detail})`);
  }
}

const defaultCredentialHints = {
  project: 'VONAGE_API_KEY and VONAGE_API_SECRET (the project API key and secret)',
  application: 'VONAGE_APPLICATION_ID and the private key in VONAGE_PRIVATE_KEY (the application that owns the video project)',
} as const;

function parseApiUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`the Vonage API URL ${JSON.stringify(text)} is not a URL: give e.g. https://api.opentok.com`);
  }
  // The token is a bearer credential: it must not cross a network in the clear.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new UsageError(`the Vonage API URL ${url.origin} must be https:// (plain http only on loopback)`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  return url;
}

function archivePath(archiveId: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(archiveId)) throw new UsageError(`${JSON.stringify(archiveId)} is not an archive id (letters, digits, - . _)`);
  return archiveId;
}

/** `Retry-After` is seconds or an HTTP date (RFC 9110 §10.2.3); anything else means "no advice". */
export function parseRetryAfter(value: string | null, now = Date.now()): number {
  if (value === null || value.trim() === '') return 0;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

/** Vonage's error bodies are `{"code":…,"message":…}`; keep one short line of it. */
function vonageMessage(text: string): string {
  let message = text;
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') message = (json as { message: string }).message;
  } catch {
    // not JSON: the text itself
  }
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw unexpectedAnswer(what);
  }
}

function unexpectedAnswer(what: string): StorageError {
  return new StorageError(`unexpected answer from Vonage for ${what} (not the documented JSON): check --api-url`);
}

function toArchiveJson(value: unknown): ArchiveJson | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' && id !== '' ? (value as ArchiveJson) : undefined;
}

function toListJson(value: unknown): ArchiveListJson {
  const list = value as { count?: unknown; items?: unknown } | null;
  if (typeof list !== 'object' || list === null || typeof list.count !== 'number' || !Array.isArray(list.items)) {
    throw unexpectedAnswer('the archive list');
  }
  const items = list.items.map(toArchiveJson);
  if (items.some((item) => item === undefined)) throw unexpectedAnswer('the archive list');
  return { count: list.count, items: items as ArchiveJson[] };
}
