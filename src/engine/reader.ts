/**
 * Fills caller-owned buffers with the ciphertext, in order. Local files are read with positional
 * `fs.read` straight into the buffer (no stream, no allocation per chunk, and the copy out of the
 * page cache runs on a libuv thread while the main thread decrypts); object stores are downloaded
 * with concurrent ranged GETs (`readParallel`, which reads pipes and small objects sequentially), and
 * their chunks copied into the buffer.
 */
import { close, open, read } from 'node:fs';
import { promisify } from 'node:util';
import { StorageError } from '../errors.js';
import { createChecksumVerifier, type ChecksumVerifier } from '../storage/checksum.js';
import { FileSource } from '../storage/file.js';
import { readParallel } from '../storage/parallel.js';
import type { Source, SourceInfo } from '../storage/source.js';

const openFile = promisify(open);

export interface CiphertextReader {
  /**
   * Fills `target` with the next bytes completely, or less only at the end of the data; resolves with
   * the bytes read. Calls may overlap (read-ahead): each takes the bytes after the previous call's.
   */
  fill(target: Uint8Array): Promise<number>;
  close(): Promise<void>;
  /** Store checksums verified over every byte read, known once the data ended (else empty). */
  readonly verifiedChecksums: readonly string[];
  /** True when a store checksum did not match the bytes received. */
  readonly checksumFailed: boolean;
  /** A local file's descriptor, for threads that read their own ranges by position (else undefined). */
  readonly positionalFd?: number | undefined;
}

export interface ReaderOptions {
  signal?: AbortSignal | undefined;
  /** What `source.stat()` said: its store checksums are verified over the bytes received. */
  info?: SourceInfo | undefined;
  /** Ranged GETs for object stores: bytes per part and parts in flight. */
  partSize?: number | undefined;
  concurrency?: number | undefined;
}

/** Opens the fastest reader for `source`. */
export async function openCiphertextReader(source: Source, options: ReaderOptions = {}): Promise<CiphertextReader> {
  if (source instanceof FileSource) {
    let fd: number;
    try {
      fd = await openFile(source.path, 'r');
    } catch (error) {
      throw new StorageError(`${source.path}: cannot open (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
    return new FileReader(fd, source.path, options.info?.size);
  }
  const { signal, partSize, concurrency, info } = options;
  const chunks = readParallel(source, {
    ...(signal ? { signal } : {}),
    ...(partSize !== undefined ? { partSize } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
  });
  const verifier = info?.checksums ? createChecksumVerifier(info, source.name) : undefined;
  return new StreamReader(chunks[Symbol.asyncIterator](), verifier?.algorithms.length ? verifier : undefined, signal);
}

class FileReader implements CiphertextReader {
  readonly verifiedChecksums: readonly string[] = [];
  readonly checksumFailed = false;
  private position = 0;
  constructor(
    private readonly fd: number,
    private readonly path: string,
    /** The size stat() gave, when known: a file that ends sooner shrank while it was read. */
    private readonly size?: number,
  ) {}

  get positionalFd(): number {
    return this.fd;
  }

  fill(target: Uint8Array): Promise<number> {
    // Reserve the bytes now, so that overlapping calls read consecutive parts of the file.
    const start = this.position;
    this.position += target.byteLength;
    return this.fillFrom(target, start);
  }

  private async fillFrom(target: Uint8Array, start: number): Promise<number> {
    let filled = 0;
    while (filled < target.byteLength) {
      const n = await readAt(this.fd, target, filled, start + filled, this.path);
      if (n === 0 && this.size !== undefined && start + filled < this.size) {
        // A storage failure, not the format's: the last block read would otherwise be judged as padding.
        throw new StorageError(`the archive file shrank while it was read (at byte ${start + filled}); run again once it is complete`);
      }
      if (n === 0) break;
      filled += n;
    }
    return filled;
  }

  close(): Promise<void> {
    return new Promise((resolve) => close(this.fd, () => resolve()));
  }
}

function readAt(fd: number, target: Uint8Array, offset: number, position: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, target, offset, target.byteLength - offset, position, (error, bytesRead) => {
      if (error) reject(new StorageError(`${path}: cannot read (${error.code ?? error.message})`, { cause: error }));
      else resolve(bytesRead);
    });
  });
}

class StreamReader implements CiphertextReader {
  private pending: Uint8Array | undefined;
  private done = false;
  private previous: Promise<unknown> = Promise.resolve();
  verifiedChecksums: readonly string[] = [];
  checksumFailed = false;
  constructor(
    private readonly chunks: AsyncIterator<Uint8Array>,
    private readonly verifier?: ChecksumVerifier,
    private readonly signal?: AbortSignal,
  ) {}

  fill(target: Uint8Array): Promise<number> {
    // A stream is consumed in order: an overlapping call waits for the one before it.
    const filled = this.previous.then(() => this.fillNow(target));
    this.previous = filled.catch(() => undefined);
    return filled;
  }

  private async fillNow(target: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < target.byteLength) {
      if (!this.pending || this.pending.byteLength === 0) {
        if (this.done) break;
        const next = await this.chunks.next();
        if (next.done) {
          this.done = true;
          // The store's checksum covers the whole object: it is decided at the end, before the last
          // plaintext is released.
          if (this.verifier) {
            try {
              this.verifiedChecksums = this.verifier.verify();
            } catch (error) {
              this.checksumFailed = true;
              throw error;
            }
          }
          break;
        }
        this.verifier?.update(next.value);
        this.pending = next.value;
      }
      const n = Math.min(this.pending.byteLength, target.byteLength - filled);
      target.set(this.pending.subarray(0, n), filled);
      this.pending = this.pending.subarray(n);
      filled += n;
    }
    return filled;
  }

  async close(): Promise<void> {
    if (this.done) return;
    // After a cancel a read may wait forever on a pipe nobody writes to: let it go, don't wait.
    if (this.signal?.aborted) void this.chunks.return?.()?.catch(() => undefined);
    else await this.chunks.return?.();
  }
}
