import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { StorageError } from '../errors.js';
import type { Source, SourceInfo } from './source.js';

/** A local file. Errors map to StorageError: ENOENT → not found, EACCES → access denied. */
export class FileSource implements Source {
  readonly rangeable = true;
  constructor(readonly path: string) {}

  get name(): string {
    return this.path;
  }

  async stat(): Promise<SourceInfo> {
    try {
      const info = await stat(this.path);
      if (!info.isFile()) throw new StorageError(`${this.path} is not a regular file`);
      return { size: info.size, lastModified: info.mtime };
    } catch (error) {
      throw mapFileError(this.path, error);
    }
  }

  async *read(start = 0, end?: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    if (end !== undefined && end <= start) return;
    const stream = createReadStream(this.path, {
      start,
      ...(end !== undefined ? { end: end - 1 } : {}),
      highWaterMark: 1 << 20,
      ...(signal ? { signal } : {}),
    });
    let at = start;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        at += chunk.byteLength;
        yield chunk;
      }
    } catch (error) {
      throw mapFileError(this.path, error);
    }
    // The end was known (its size when stat()ed): a file that ends sooner changed under us, which is
    // a storage failure, not the format's (its last block would otherwise be judged as padding).
    if (end !== undefined && at < end) throw new StorageError(`${this.path} shrank while it was read (at byte ${at}); run again once it is complete`);
  }
}

/** Standard input (or any readable stream): one sequential pass, size unknown. */
export class StreamSource implements Source {
  readonly rangeable = false;
  private consumed = false;
  constructor(
    private readonly stream: Readable,
    readonly name = 'stdin',
  ) {}

  stat(): Promise<SourceInfo> {
    return Promise.resolve({ size: undefined });
  }

  async *read(start = 0, end?: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    if (start !== 0 || end !== undefined) throw new Error('a stream source can only be read once from the start');
    if (this.consumed) throw new Error('a stream source can only be read once');
    this.consumed = true;
    // Ctrl-C must end a read that waits on a pipe nobody writes to: the stream is destroyed on abort.
    if (signal) addAbortSignal(signal, this.stream);
    for await (const chunk of this.stream as AsyncIterable<Buffer>) yield chunk;
  }
}

function mapFileError(path: string, error: unknown): Error {
  if (error instanceof StorageError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new StorageError(`${path}: no such file`, { code: 'ERR_NOT_FOUND', cause: error });
  if (code === 'EACCES' || code === 'EPERM') {
    return new StorageError(`${path}: permission denied`, { code: 'ERR_ACCESS_DENIED', cause: error });
  }
  if (code === 'EISDIR') return new StorageError(`${path} is a directory, not an archive file`, { cause: error });
  if ((error as Error).name === 'AbortError') return error as Error;
  return new StorageError(`${path}: cannot read (${code ?? (error as Error).message})`, { cause: error });
}
