/**
 * The one interface every archive location implements (file, stdin, S3, Azure, https).
 *
 * Contract:
 * - `stat()` resolves with what the store knows about the object, or throws a `StorageError` with
 *   code `ERR_NOT_FOUND` (object, bucket or container missing), `ERR_ACCESS_DENIED` (credentials
 *   rejected or not allowed) or `ERR_STORAGE` (unreachable, retries exhausted). It never retries a
 *   not-found or access-denied answer; transient failures (timeouts, resets, 5xx) are retried first.
 * - `read(start, end)` yields the bytes `[start, end)` in order. Transient failures are retried with
 *   backoff and resume from the last byte received, pinned to the ETag/version seen by `stat()`, so an
 *   object replaced mid-download fails (`ERR_STORAGE`) instead of mixing two versions.
 * - Names and messages never contain credentials (no SAS tokens, no presigned query strings).
 */
import type { DownloadOptions } from './parallel.js';

export interface SourceInfo {
  /** Object size in bytes; undefined for a pipe. */
  size: number | undefined;
  etag?: string;
  lastModified?: Date;
  /** Checksums the store vouches for, by algorithm (`md5`, `sha256`, `crc32c`…), raw bytes. */
  checksums?: Partial<Record<'md5' | 'sha1' | 'sha256' | 'crc32' | 'crc32c', Buffer>>;
}

export interface Source {
  /** Display name without credentials, e.g. `s3://bucket/key` or a path. */
  readonly name: string;
  /** How `readParallel` downloads this source unless its caller says otherwise (`SourceOptions.download`). */
  readonly download?: DownloadOptions | undefined;
  /** True when ranged reads are cheap and may run concurrently (files, object stores); false for stdin. */
  readonly rangeable: boolean;
  stat(signal?: AbortSignal): Promise<SourceInfo>;
  read(start?: number, end?: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  close?(): Promise<void>;
}

/** An object found by listing a bucket or container. */
export interface ListedObject {
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

/** A bucket or container that can be listed. */
export interface ObjectStore {
  readonly name: string;
  /** The part of the spec after the bucket or container (`s3://bucket/<prefix>`); `''` for all of it. */
  readonly prefix: string;
  /** Objects whose key starts with the store's own prefix plus `prefix`; keys are full keys. */
  list(prefix?: string, signal?: AbortSignal): AsyncIterable<ListedObject>;
  /** A Source for one object of this store (full key, as listed); it shares the store's connection. */
  object(key: string): Source;
  /** Releases the connection (sockets) of the store and of the sources it handed out. */
  close?(): Promise<void>;
}
