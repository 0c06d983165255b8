/**
 * Output sinks. A file is written under a temporary name in the same folder (mode 0600) and only
 * linked into place by `commit()` after every check passed; `abort()` (or process exit) removes it,
 * so after any failure nothing exists at the requested path.
 */
import { randomBytes } from 'node:crypto';
import { constants, unlinkSync } from 'node:fs';
import { link, lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { OutputError } from '../errors.js';

export interface OutputSink {
  /** Human-readable destination for messages. */
  readonly name: string;
  /** Appends a chunk; resolves when the sink can take more (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Like write(), but resolves only once the sink holds no reference to `chunk`, so the caller may
   * overwrite that memory at once (the parallel engine writes out of a reused shared ring). Sinks
   * without it get a copy.
   */
  writeAndRelease?(chunk: Uint8Array): Promise<void>;
  /** Makes the output visible: after this the data is at the requested path. */
  commit(): Promise<void>;
  /** Discards everything written. Safe to call more than once and after commit (then a no-op). */
  abort(): Promise<void>;
}

const pendingTemporaries = new Set<string>();
let exitHookInstalled = false;

function trackTemporary(path: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last line of defence: a process.exit() between open and commit must not leave plaintext behind.
    process.on('exit', () => {
      for (const p of pendingTemporaries) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
    });
  }
  pendingTemporaries.add(path);
}

/** Opens `path` for writing through a temporary file. Refuses (OutputError, exit 6) if it exists. */
export async function openFileSink(path: string, options: { mode?: number } = {}): Promise<OutputSink> {
  await assertAbsent(path);
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  let handle: FileHandle;
  try {
    handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, options.mode ?? 0o600);
  } catch (error) {
    throw new OutputError(`cannot write to ${dirname(path)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
  }
  trackTemporary(temporary);
  let position = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';

  // A full disk or a vanished folder is an output failure (exit 6), not a crash.
  const failed = (error: unknown) =>
    error instanceof OutputError ? error : new OutputError(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  const write = async (chunk: Uint8Array) => {
    let offset = 0;
    try {
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, position);
        offset += bytesWritten;
        position += bytesWritten;
      }
    } catch (error) {
      throw failed(error);
    }
  };
  return {
    name: path,
    write,
    // write() resolves after the kernel copied the bytes.
    writeAndRelease: write,
    async commit() {
      if (state !== 'open') throw new Error(`output already ${state}`);
      try {
        await handle.datasync();
        await handle.close();
      } catch (error) {
        throw failed(error);
      }
      try {
        // link() fails if the target appeared meanwhile: we never overwrite, even in a race.
        await link(temporary, path);
        await unlink(temporary);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          await unlink(temporary).catch(() => undefined);
          pendingTemporaries.delete(temporary);
          state = 'aborted';
          throw new OutputError(`${path} already exists; nothing was written (remove it or choose another --output)`);
        }
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw failed(error);
        await assertAbsent(path);
        await rename(temporary, path).catch((e: unknown) => Promise.reject(failed(e)));
      }
      pendingTemporaries.delete(temporary);
      state = 'committed';
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await handle.close().catch(() => undefined);
      await unlink(temporary).catch(() => undefined);
      pendingTemporaries.delete(temporary);
    },
  };
}

/** Wraps a stream (stdout) as a sink. commit() ends nothing: stdout belongs to the process. */
export function streamSink(stream: Writable, name = 'stdout'): OutputSink {
  // A reader that goes away (a player closed, `| head`) is the operator's doing, not a crash.
  const refused = (error: Error) =>
    new OutputError(
      (error as NodeJS.ErrnoException).code === 'EPIPE'
        ? `${name} was closed by the program reading it; the output is incomplete`
        : `cannot write to ${name}: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
      { cause: error },
    );
  // Every failure reaches a write callback; without a listener the 'error' event would crash the
  // process when no backpressure wait happens to be listening (writeAndRelease waits on callbacks).
  stream.on('error', () => undefined);
  const written = (chunk: Uint8Array) =>
    new Promise<void>((resolve, reject) => stream.write(chunk, (error) => (error ? reject(refused(error)) : resolve())));
  return {
    name,
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        const ok = stream.write(chunk, (error) => {
          if (error) reject(refused(error));
        });
        if (ok) resolve();
        else {
          const onDrain = () => {
            stream.off('error', onError);
            resolve();
          };
          const onError = (error: Error) => {
            stream.off('drain', onDrain);
            reject(refused(error));
          };
          stream.once('drain', onDrain);
          stream.once('error', onError);
        }
      });
    },
    // The write callback runs once the stream is done with the chunk (written out, not just queued).
    writeAndRelease: written,
    // Let everything buffered reach the consumer before reporting success.
    commit: () => written(new Uint8Array(0)),
    async abort() {
      // A consumer of a stream cannot "unsee" bytes; callers only stream verified data where it matters.
    },
  };
}

/** A sink that discards everything: verify-only runs. */
export function nullSink(): OutputSink {
  return {
    name: 'nowhere (verify only)',
    async write() {},
    async writeAndRelease() {},
    async commit() {},
    async abort() {},
  };
}

async function assertAbsent(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new OutputError(`cannot check output path ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  throw new OutputError(`${path} already exists; refusing to overwrite (remove it or choose another --output)`);
}
