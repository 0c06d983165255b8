/**
 * The file sink: nothing is visible at the requested path until `commit()`, and nothing of an
 * unfinished output stays reachable next to it (docs/RELIABILITY.md, "Crash safety").
 *
 * - Linux with the native addon: the data goes into an unnamed file in the target folder
 *   (`O_TMPFILE`, mode 0600). `commit()` fsyncs it and links it into place with `linkat`, which never
 *   replaces an existing file. A crash, SIGKILL or power cut before that leaves nothing at all.
 * - Elsewhere (no addon, `ARCHIVE_CRYPT_NATIVE=0`, a file system without O_TMPFILE): a named partial
 *   `.<name>.<pid>.<start>.<random>.partial` (mode 0600) that says which process writes it. Every later
 *   sink opened in that folder removes partials whose writer is gone, and reports each removal to the
 *   `onFileSinkEvent` listeners (the CLI prints them on stderr).
 */
import { randomBytes } from 'node:crypto';
import { close, constants, readFileSync, unlinkSync, fdatasync, fchmod, fsync, link, lstat, open, readdir, rename, unlink, write } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { OutputError, UsageError } from '../errors.js';
import { loadNative } from '../native.js';
import type { OutputSink } from './output-sink.js';

const fs = {
  open: promisify(open),
  close: promisify(close),
  write: promisify(write),
  fdatasync: promisify(fdatasync),
  fsync: promisify(fsync),
  fchmod: promisify(fchmod),
  link: promisify(link),
  lstat: promisify(lstat),
  readdir: promisify(readdir),
  rename: promisify(rename),
  unlink: promisify(unlink),
};

export interface FileSinkOptions {
  /** Mode of the committed file (default 0600). */
  mode?: number;
}

/**
 * Opens `path` for writing. Refuses (OutputError, exit 6) if it exists; the final check happens again
 * at commit, which never overwrites, even in a race.
 *
 * @example
 * ```ts
 * const sink = await openFileSink('out/meeting.ts');
 * try { await sink.write(bytes); await sink.commit(); } finally { await sink.abort(); }
 * ```
 */
export async function openFileSink(path: string, options: FileSinkOptions = {}): Promise<OutputSink> {
  if (path === '') throw new UsageError('the output path is empty; give a file name');
  await assertAbsent(path);
  const folder = dirname(path);
  await removeStalePartials(folder);
  const mode = options.mode ?? 0o600;
  const target = openUnnamed(folder) ?? (await openPartial(path));
  if (mode !== 0o600) await fs.fchmod(target.fd, mode).catch((error: unknown) => Promise.reject(writeFailed(path, error)));

  let position = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';
  const release = async () => {
    await fs.close(target.fd).catch(() => undefined);
    if (target.partial !== undefined) {
      await fs.unlink(target.partial).catch(() => undefined);
      pendingPartials.delete(target.partial);
    }
  };
  const writeChunk = async (chunk: Uint8Array) => {
    if (state !== 'open') throw new Error(`output already ${state}`);
    let offset = 0;
    try {
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await fs.write(target.fd, chunk, offset, chunk.byteLength - offset, position);
        offset += bytesWritten;
        position += bytesWritten;
      }
    } catch (error) {
      throw writeFailed(path, error);
    }
  };
  return {
    name: path,
    write: writeChunk,
    // write() resolves after the kernel copied the bytes.
    writeAndRelease: writeChunk,
    async commit() {
      if (state !== 'open') throw new Error(`output already ${state}`);
      try {
        await fs.fdatasync(target.fd);
        await target.link(path);
      } catch (error) {
        state = 'aborted';
        await release();
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new OutputError(`${path} already exists; nothing was written (remove it or choose another --output)`);
        }
        throw error instanceof OutputError ? error : writeFailed(path, error);
      }
      state = 'committed';
      for (const listener of listeners) listener.committed?.(path);
      await fs.close(target.fd).catch(() => undefined);
      // The new name must survive a power cut too.
      await syncFolder(folder);
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await release();
    },
  };
}

/** Where the bytes go until commit, and how they get their name. */
interface Target {
  fd: number;
  /** The named partial (fallback), removed on abort and at exit; undefined for an unnamed file. */
  partial: string | undefined;
  link(path: string): Promise<void>;
}

/** An O_TMPFILE file in `folder`, or undefined where the addon or the file system cannot make one. */
function openUnnamed(folder: string): Target | undefined {
  const native = loadNative();
  if (!native) return undefined;
  let fd: number;
  try {
    fd = native.openTmpfile(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Missing folder or no permission: the named fallback would fail the same way, with a clearer message.
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EROFS' || code === 'ENOSPC' || code === 'EDQUOT') throw cannotWrite(folder, error);
    return undefined; // EOPNOTSUPP, EISDIR (kernel without O_TMPFILE), EINVAL…
  }
  return {
    fd,
    partial: undefined,
    link: (path) => {
      native.linkTmpfile(fd, path);
      return Promise.resolve();
    },
  };
}

/** A named partial that identifies its writer; removed on abort and, as a last resort, at exit. */
async function openPartial(path: string): Promise<Target> {
  const partial = join(dirname(path), `.${basename(path)}.${process.pid}.${processStart()}.${randomBytes(6).toString('hex')}.partial`);
  let fd: number;
  try {
    fd = await fs.open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    throw cannotWrite(dirname(path), error);
  }
  trackPartial(partial);
  return {
    fd,
    partial,
    async link(target) {
      try {
        // link() fails if the target appeared meanwhile: we never overwrite, even in a race.
        await fs.link(partial, target);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
        // File systems without hard links (some FUSE and SMB mounts): check, then rename.
        await assertAbsent(target);
        await fs.rename(partial, target);
        pendingPartials.delete(partial);
        return;
      }
      await fs.unlink(partial);
      pendingPartials.delete(partial);
    },
  };
}

const pendingPartials = new Set<string>();
let exitHookInstalled = false;

function trackPartial(path: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A process.exit() between open and commit must not leave a partial behind.
    process.on('exit', () => {
      for (const partial of pendingPartials) {
        try {
          unlinkSync(partial);
        } catch {
          // already gone
        }
      }
    });
  }
  pendingPartials.add(path);
}

/** What a program embedding the library may want to hear about file sinks (the CLI prints them). */
export interface FileSinkEvents {
  /** An output file was linked into place. */
  committed?(path: string): void;
  /** A partial left by a writer that is gone was removed. */
  staleRemoved?(path: string): void;
}

const listeners = new Set<FileSinkEvents>();

/** Registers `events` for every file sink from now on; returns the function that unregisters them. */
export function onFileSinkEvent(events: FileSinkEvents): () => void {
  listeners.add(events);
  return () => listeners.delete(events);
}

// Legacy partials (`.<name>.<random>.partial`, from versions before the writer was recorded) carry no
// pid: they count as stale once untouched for this long.
const legacyStaleMs = 60 * 60 * 1000;
const partialPattern = /^\..+\.(\d+)\.(\d+)\.[0-9a-f]{12}\.partial$/;
const legacyPattern = /^\..+\.[0-9a-f]{12}\.partial$/;
const cleanedFolders = new Set<string>();

/**
 * Removes the partials in `folder` whose writer is gone (once per folder and process: a batch into
 * one folder scans it once). Returns the paths removed.
 */
export async function removeStalePartials(folder: string): Promise<string[]> {
  if (cleanedFolders.has(folder)) return [];
  cleanedFolders.add(folder);
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch {
    return []; // a missing folder fails at open, with the message that matters
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = partialPattern.exec(name);
    const path = join(folder, name);
    if (match) {
      if (writerAlive(Number(match[1]), match[2] ?? '')) continue;
    } else if (legacyPattern.test(name)) {
      const info = await fs.lstat(path).catch(() => undefined);
      if (!info?.isFile() || Date.now() - info.mtimeMs < legacyStaleMs) continue;
    } else continue;
    try {
      await fs.unlink(path);
    } catch {
      continue; // another run removed it first, or it is not ours to remove
    }
    removed.push(path);
    for (const listener of listeners) listener.staleRemoved?.(path);
  }
  return removed;
}

/** Whether process `pid`, started at `start` (see processStart), still runs. */
function writerAlive(pid: number, start: string): boolean {
  if (pid === process.pid) return start === processStart();
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // The pid runs; on Linux the start time tells a reused pid from the writer itself.
  const now = startTimeOf(pid);
  return now === undefined || now === start;
}

let ownStart: string | undefined;

/** This process's start time in clock ticks since boot (Linux), else 0: pid reuse is then not detected. */
function processStart(): string {
  ownStart ??= startTimeOf(process.pid) ?? '0';
  return ownStart;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 22; the command name (field 2) may contain spaces, so count from its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function syncFolder(folder: string): Promise<void> {
  try {
    const fd = await fs.open(folder, 'r');
    await fs.fsync(fd).finally(() => fs.close(fd));
  } catch {
    // Some platforms cannot fsync a directory; the file itself is already durable.
  }
}

async function assertAbsent(path: string): Promise<void> {
  try {
    await fs.lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new OutputError(`cannot check output path ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  throw new OutputError(`${path} already exists; refusing to overwrite (remove it or choose another --output)`);
}

function cannotWrite(folder: string, error: unknown): OutputError {
  return new OutputError(`cannot write to ${folder}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
}

// A full disk or a vanished folder is an output failure (exit 6), not a crash.
function writeFailed(path: string, error: unknown): OutputError {
  const code = (error as NodeJS.ErrnoException).code;
  const hint = code === 'ENOSPC' || code === 'EDQUOT' ? ' (the disk is full; nothing was kept)' : '';
  return new OutputError(`cannot write ${path}: ${code ?? String(error)}${hint}`, { cause: error });
}
