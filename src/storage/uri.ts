/**
 * Parsing of the `<source>` and `<store>` arguments: paths, `-`, `s3://`, `azure://`, Azure blob
 * URLs and other `https://` URLs. Pure string work, no SDKs, so that it loads instantly and is easy
 * to test. Every malformed spec is a `UsageError` that says what a good one looks like.
 */
import { UsageError } from '../errors.js';

/** Where one object (archive) lives. */
export type SourceLocation =
  | { kind: 'stdin' }
  | { kind: 'file'; path: string }
  | { kind: 's3'; bucket: string; key: string }
  | { kind: 'azure'; container: string; blob: string }
  /** A blob URL, usually with a SAS query (also azurite's `http://127.0.0.1:port/devstoreaccount1/…`). */
  | { kind: 'azure-url'; url: URL; container: string; blob: string }
  /** Any other URL with ranged GET support: presigned S3, Vonage's archive URL. */
  | { kind: 'https'; url: URL };

/** A bucket or container to list, optionally under a prefix (`''` for the whole store). */
export type StoreLocation =
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'azure'; container: string; prefix: string };

const schemePattern = /^([a-z][a-z0-9+.-]*):\/\//i;
// AWS bucket naming rules (the subset every S3-compatible store accepts).
const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const containerPattern = /^(?:\$root|[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9])$/;
const azureAccountHost = /^[a-z0-9]{3,24}\.blob\.core\.(?:windows\.net|chinacloudapi\.cn|usgovcloudapi\.net)$/;
/** Azurite's fixed development account, the first path segment of its path-style URLs. */
const azuriteAccount = 'devstoreaccount1';

/**
 * Parses a `<source>` argument.
 *
 * @example
 * ```ts
 * parseSourceSpec('s3://my-bucket/46372/0c3a…/archive.mp4') // { kind: 's3', bucket: 'my-bucket', key: '46372/0c3a…/archive.mp4' }
 * ```
 */
export function parseSourceSpec(spec: string): SourceLocation {
  if (spec === '-') return { kind: 'stdin' };
  if (spec === '') throw new UsageError('the archive source is empty; give a path, -, s3://bucket/key, azure://container/blob or an https:// URL');
  const scheme = schemePattern.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'file', path: spec };
  switch (scheme) {
    case 's3': {
      const { bucket, path } = splitStoreSpec(spec, 's3');
      if (path === '') throw new UsageError(`${spec} names no object; use s3://bucket/key`);
      return { kind: 's3', bucket, key: path };
    }
    case 'azure': {
      const { bucket: container, path } = splitStoreSpec(spec, 'azure');
      if (path === '') throw new UsageError(`${spec} names no blob; use azure://container/blob`);
      return { kind: 'azure', container, blob: path };
    }
    case 'http':
    case 'https':
      return parseHttpSpec(spec);
    default:
      throw new UsageError(
        `unsupported source ${scheme}://…; use a path, -, s3://bucket/key, azure://container/blob or an https:// URL`,
      );
  }
}

/** Parses a `<store>` argument: `s3://bucket[/prefix]` or `azure://container[/prefix]`. */
export function parseStoreSpec(spec: string): StoreLocation {
  const scheme = schemePattern.exec(spec)?.[1]?.toLowerCase();
  if (scheme !== 's3' && scheme !== 'azure') {
    throw new UsageError(`${redactSpec(spec)} is not a bucket or container; use s3://bucket[/prefix] or azure://container[/prefix]`);
  }
  const { bucket, path } = splitStoreSpec(spec, scheme);
  return scheme === 's3' ? { kind: 's3', bucket, prefix: path } : { kind: 'azure', container: bucket, prefix: path };
}

/** A URL for messages and names: scheme, host and path, without user info or query (SAS, signatures). */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** True for hosts that never leave this machine, where plain `http://` is acceptable (emulators). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function splitStoreSpec(spec: string, scheme: 's3' | 'azure'): { bucket: string; path: string } {
  const rest = spec.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  if (scheme === 's3' && !bucketPattern.test(bucket)) {
    throw new UsageError(`${spec}: "${bucket}" is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)`);
  }
  if (scheme === 'azure' && !containerPattern.test(bucket)) {
    throw new UsageError(`${spec}: "${bucket}" is not a valid container name (3-63 lowercase letters, digits, hyphens)`);
  }
  return { bucket, path };
}

function parseHttpSpec(spec: string): SourceLocation {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new UsageError(`${redactSpec(spec)} is not a valid URL`);
  }
  const shown = redactUrl(url);
  if (url.username || url.password) throw new UsageError(`${shown}: credentials in the URL are not accepted; use a presigned or SAS URL`);
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === 'http:' && !loopback) {
    throw new UsageError(`${shown}: plain http is only allowed for loopback emulators; use https://`);
  }
  const segments = url.pathname.split('/').slice(1);
  const azureStyle = azureAccountHost.test(url.hostname) || (loopback && segments[0] === azuriteAccount);
  if (azureStyle) {
    // Path-style (azurite) URLs carry the account as the first segment.
    const [container, ...blob] = azureAccountHost.test(url.hostname) ? segments : segments.slice(1);
    if (!container || blob.length === 0 || blob.join('/') === '') {
      throw new UsageError(`${shown} names no blob; use https://<account>.blob.core.windows.net/<container>/<blob>?<sas>`);
    }
    return { kind: 'azure-url', url, container: decodeURIComponent(container), blob: decodeURIComponent(blob.join('/')) };
  }
  return { kind: 'https', url };
}

/** Strips anything after `?` so that a mistyped SAS URL does not end up in an error message. */
function redactSpec(spec: string): string {
  const query = spec.indexOf('?');
  return query === -1 ? spec : `${spec.slice(0, query)}?…`;
}
