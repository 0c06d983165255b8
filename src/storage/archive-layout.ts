/**
 * Where Vonage puts an archive in the customer's bucket or container: `<apiKey>/<archiveId>/archive.mp4`
 * (the forward direction is `archiveObjectKey` in vonage/archive.ts). This side finds them by listing.
 */
import type { ListedObject, ObjectStore } from './source.js';

/** A Vonage archive found in storage. */
export interface StoredArchive {
  /** The archive id (a UUID in practice). */
  id: string;
  /** The Vonage project (API key) the archive belongs to. */
  apiKey: string;
  /** Full key of the object in the bucket or container. */
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

/**
 * Recognises `[prefix/]<apiKey>/<archiveId>/archive.mp4`; anything else (other files, deeper or
 * shallower paths) is not a Vonage archive and yields undefined.
 */
export function parseArchiveKey(key: string): { apiKey: string; id: string } | undefined {
  const match = /(?:^|\/)([^/]+)\/([^/]+)\/archive\.mp4$/.exec(key);
  return match?.[1] && match[2] ? { apiKey: match[1], id: match[2] } : undefined;
}

/**
 * Lists the Vonage archives in a store, optionally of one project only (listing only its prefix).
 *
 * @example
 * ```ts
 * for await (const archive of listArchives(await openStore('s3://archives'), { apiKey: '46372' })) console.log(archive.id);
 * ```
 */
export async function* listArchives(store: ObjectStore, options: { apiKey?: string; signal?: AbortSignal } = {}): AsyncIterable<StoredArchive> {
  // A store narrowed to `s3://bucket/copies` means the folder copies/, as with a trailing slash.
  const separator = store.prefix !== '' && !store.prefix.endsWith('/') ? '/' : '';
  const prefix = options.apiKey !== undefined ? `${separator}${options.apiKey}/` : '';
  for await (const object of store.list(prefix, options.signal)) {
    const archive = toArchive(object);
    if (archive && (options.apiKey === undefined || archive.apiKey === options.apiKey)) yield archive;
  }
}

function toArchive(object: ListedObject): StoredArchive | undefined {
  const parsed = parseArchiveKey(object.key);
  if (!parsed) return undefined;
  return {
    ...parsed,
    key: object.key,
    size: object.size,
    ...(object.lastModified ? { lastModified: object.lastModified } : {}),
    ...(object.etag ? { etag: object.etag } : {}),
  };
}
