/**
 * The two-core pipeline on the native core (docs/ENGINE.md, "Threads"): the archive goes through
 * two reused windows of `RANGES_PER_WINDOW` CBC ranges each, and the addon's `decryptRanges` does
 * all the per-range work in C — no JavaScript, no allocation and no message per range. Its second
 * thread is a libuv thread running the addon's async work: nothing to boot (a worker thread costs
 * 30–240 ms before its first byte, which is half of openssl's whole run at 1 GiB).
 *
 * - A local file whose size is known and whole blocks, nothing hashed (`decryptFileWindows`): the
 *   main thread and the libuv thread each take ranges of the window from one atomic claim counter
 *   (so the faster thread simply takes more) and decrypt them out of place from a read-only mapping
 *   of the file (`mapArchive`; the block before a range is its IV) — or, where the file cannot be
 *   mapped, read them by position and decrypt them in place. While the main thread writes window w
 *   in order, the libuv thread already works on window w + 1.
 * - The same file with SHA-256 wanted (`decryptHashedWindows`): the main thread hashes the
 *   ciphertext of window w straight from the mapping while the libuv thread decrypts window w out
 *   of it, in order, checks its sync bytes and hashes its plaintext: each digest on its own core,
 *   and neither waits for a read.
 * - Anything else of a known size — an object store, a file that cannot be mapped and is hashed
 *   (`decryptStreamWindows`): the main thread reads window w + 1 (and hashes its ciphertext,
 *   verifies the store checksum) while the libuv thread decrypts window w in order, checks its sync
 *   bytes and hashes its plaintext.
 *
 * Only the last block of the archive carries padding: it is checked and stripped on the main thread
 * once its window is decrypted. The MPEG-TS sync check runs in C where the plaintext is hot.
 */
import { AbortError, StorageError } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/opentok.js';
import type { NativeBinding, NativeContext, NativeMapping } from '../../native.js';
import { writeReleasing } from '../../storage/output-sink.js';
import { checkedLength, removedPadding, type PipelineInput } from './serial.js';

/** Ranges per window: enough that the thread that finishes first rarely waits for the other. */
export const RANGES_PER_WINDOW = 8;
/**
 * In order (hashing, object stores) a window is one range of work for each thread, so it is kept
 * small enough that the ciphertext this thread just read and hashed is still in the cache when the
 * libuv thread decrypts it: 2 MiB windows took 4.5–5.4 s against 8.2–9.0 s for 8 MiB at 1 GiB with
 * --expect-sha256 (load 17, same CPU time; bench/ANALYSIS.md).
 */
export const STREAM_RANGES_PER_WINDOW = 2;

export interface WindowsInput extends PipelineInput {
  native: NativeBinding;
  /** Bytes per range (a multiple of 16). */
  rangeSize: number;
  /** The source's size in bytes (known: stdin and pipes take the serial path). */
  size: number;
}

/**
 * Output leaves a window in writes of this size: 8 MiB write() calls into the page cache cost up to
 * 4× the system time of 1 MiB ones here (the source no longer sits in the cache; bench/ANALYSIS.md).
 */
const WRITE_SLICE = 1024 * 1024;

async function writeWindow(sink: PipelineInput['sink'], plaintext: Uint8Array): Promise<void> {
  for (let at = 0; at < plaintext.byteLength; at += WRITE_SLICE) await writeReleasing(sink, plaintext.subarray(at, Math.min(at + WRITE_SLICE, plaintext.byteLength)));
}

type Window = { data: Buffer; claims: Int32Array };

function windows(windowBytes: number): [Window, Window] {
  // Off-heap memory (never moved by the garbage collector) that the libuv thread works on.
  const make = (): Window => ({ data: Buffer.from(new SharedArrayBuffer(windowBytes)), claims: new Int32Array(new SharedArrayBuffer(4)) });
  return [make(), make()];
}

/** The native error of a job as the engine's: a failed or short read is a storage failure. */
function storageFailure(error: unknown, path: string): Error {
  const { errno, shrankAt, message } = error as { errno?: number; shrankAt?: number; message?: string };
  if (typeof shrankAt === 'number') return new StorageError(`the archive file shrank while it was read (at byte ${shrankAt}); run again once it is complete`, { cause: error });
  if (typeof errno === 'number') return new StorageError(`${path}: cannot read (${message ?? 'error'})`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * One of the addon's libuv jobs as a promise, its native error turned into the engine's. Caught at
 * once: it is awaited in its turn, and a failure before then must not be an unhandled rejection.
 */
function libuvJob(path: string, run: (done: (error: Error | null, result: number) => void) => void): Promise<number> {
  const job = new Promise<number>((resolve, reject) => run((error, result) => (error ? reject(storageFailure(error, path)) : resolve(result))));
  job.catch(() => undefined);
  return job;
}

/**
 * A read-only mapping of the archive file (`size` > 0 bytes), or undefined where the file cannot be
 * mapped (special files; then it is read by position). Measured at 1 GiB (bench/ANALYSIS.md): the
 * mapping saves the copy pread made into the windows. The caller unmaps it when the archive is done.
 */
export function mapArchive(native: NativeBinding, fd: number, size: number): NativeMapping | undefined {
  try {
    return native.mapFile(fd, size);
  } catch {
    return undefined;
  }
}

/**
 * Gives the pages of a finished window back, so that mapped pages never pile up in the resident set
 * (they count in it: at 1 GiB peak RSS grew by 8 MiB per GiB until this took the window before too,
 * whose last page the next window's first IV maps again, 64 KiB at a time).
 */
function release(native: NativeBinding, source: number | NativeMapping, position: number, end: number, windowBytes: number): void {
  if (typeof source !== 'number') native.releaseMapped(source, Math.max(0, position - windowBytes), end - Math.max(0, position - windowBytes));
}

/**
 * Local file, known size (a positive multiple of 16), no hashing: both threads decrypt ranges from
 * `source`, a mapping of the file (out of place) or its descriptor (read by position, in place).
 */
export async function decryptFileWindows(input: WindowsInput & { source: number | NativeMapping }): Promise<void> {
  const { native, checks, sink, signal, padding, size, rangeSize, source } = input;
  const { key, iv } = input.archiveKey;
  const windowBytes = rangeSize * RANGES_PER_WINDOW;
  const count = Math.ceil(size / windowBytes);
  const pair = windows(windowBytes);
  const syncing = checks.checkingMpegTs;
  const jobs: Promise<number>[] = [];
  const start = (w: number): void => {
    const window = pair[w % 2] as Window;
    const position = w * windowBytes;
    const end = Math.min(size, position + windowBytes);
    window.claims[0] = 0;
    const ranges = Math.ceil((end - position) / rangeSize);
    jobs[w] = libuvJob(checks.report.source, (done) =>
      native.decryptRanges(key, iv, source, window.data, rangeSize, ranges, position, end, window.claims, syncing ? position : -1, null, 0, done),
    );
  };
  try {
    checkedLength(size, padding, checks);
    start(0);
    for (let w = 0; w < count; w += 1) {
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      const window = pair[w % 2] as Window;
      const position = w * windowBytes;
      const end = Math.min(size, position + windowBytes);
      let mine: number;
      try {
        mine = native.decryptRanges(key, iv, source, window.data, rangeSize, Math.ceil((end - position) / rangeSize), position, end, window.claims, syncing ? position : -1, null, 0);
      } catch (error) {
        throw storageFailure(error, checks.report.source);
      }
      // The other window's output was written (below, last round): the libuv thread may go on to it.
      if (w + 1 < count) start(w + 1);
      const theirs = await (jobs[w] as Promise<number>);
      const bad = mine < 0 ? theirs : theirs < 0 ? mine : Math.min(mine, theirs);
      let plaintext = window.data.subarray(0, end - position);
      checks.countCiphertext(plaintext.byteLength);
      if (w === count - 1) plaintext = plaintext.subarray(0, plaintext.byteLength - removedPadding(plaintext.subarray(plaintext.byteLength - BLOCK_SIZE), padding, checks));
      checks.plaintext(plaintext, bad);
      await writeWindow(sink, plaintext);
      release(native, source, position, end, windowBytes);
      input.onProgress?.(end, input.total);
    }
  } finally {
    // No job may still write into the windows when they are dropped (or the key is zeroed after).
    await Promise.allSettled(jobs);
  }
}

/**
 * A mapped local file, known size (a positive multiple of 16), SHA-256 of both streams wanted: one
 * libuv thread hashes window w's ciphertext from the mapping while another decrypts it out of the
 * mapping in order, checks its sync bytes and hashes its plaintext (all but the archive's last
 * block, which waits for the padding check). The mapping is never written, so both read it at once;
 * this thread checks the padding and writes window w while both work on window w + 1.
 */
export async function decryptHashedWindows(input: WindowsInput & { mapping: NativeMapping }): Promise<void> {
  const { native, checks, sink, signal, padding, size, rangeSize, mapping } = input;
  const { key, iv } = input.archiveKey;
  const windowBytes = rangeSize * RANGES_PER_WINDOW;
  const count = Math.ceil(size / windowBytes);
  const pair = windows(windowBytes);
  const syncing = checks.checkingMpegTs;
  const plaintextHash = native.hashNew(4);
  const ciphertextHash = native.hashNew(4);
  checks.hashPlaintextElsewhere();
  checks.hashCiphertextElsewhere();
  const jobs: Promise<number>[] = [];
  const start = (w: number): void => {
    const window = pair[w % 2] as Window;
    const position = w * windowBytes;
    const end = Math.min(size, position + windowBytes);
    const hashed = w === count - 1 ? end - position - BLOCK_SIZE : end - position;
    jobs[w] = libuvJob(checks.report.source, (done) =>
      native.decryptRanges(key, iv, mapping, window.data, rangeSize, Math.ceil((end - position) / rangeSize), position, end, null, syncing ? position : -1, plaintextHash, hashed, done),
    );
  };
  // The ciphertext digest runs as a job of its own on another libuv thread, beside the window's
  // decryption: this thread stays free to take each completion at once (hashing here synchronously,
  // it held up the hand-over to the next window; bench/ANALYSIS.md).
  /** Each resolves with where the file ended when it shrank under the digest, else -1. */
  const hashes: Promise<number>[] = [];
  const hashCiphertext = (w: number): void => {
    const position = w * windowBytes;
    hashes[w] = libuvJob(checks.report.source, (done) => native.digestMapped(ciphertextHash, mapping, position, Math.min(size, position + windowBytes) - position, done));
  };
  try {
    checkedLength(size, padding, checks);
    start(0);
    hashCiphertext(0);
    for (let w = 0; w < count; w += 1) {
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      const window = pair[w % 2] as Window;
      const position = w * windowBytes;
      const end = Math.min(size, position + windowBytes);
      const shrankAt = await (hashes[w] as Promise<number>);
      if (shrankAt >= 0) throw storageFailure({ shrankAt }, checks.report.source);
      const bad = await (jobs[w] as Promise<number>);
      // Window w + 1 goes to the other buffer, whose plaintext was written last round.
      if (w + 1 < count) {
        start(w + 1);
        hashCiphertext(w + 1);
      }
      let plaintext = window.data.subarray(0, end - position);
      checks.countCiphertext(plaintext.byteLength);
      if (w === count - 1) {
        const tail = plaintext.subarray(plaintext.byteLength - BLOCK_SIZE);
        const removed = removedPadding(tail, padding, checks);
        native.digestUpdate(plaintextHash, tail, 0, BLOCK_SIZE - removed);
        plaintext = plaintext.subarray(0, plaintext.byteLength - removed);
      }
      checks.plaintext(plaintext, bad);
      await writeWindow(sink, plaintext);
      release(native, mapping, position, end, windowBytes);
      input.onProgress?.(end, input.total);
    }
    const digest = (hash: NativeContext): Buffer => {
      const out = Buffer.alloc(32);
      native.digestFinal(hash, out);
      return out;
    };
    checks.setCiphertextDigest(digest(ciphertextHash));
    checks.setPlaintextDigest(digest(plaintextHash));
  } finally {
    await Promise.allSettled([...jobs, ...hashes]);
    native.contextFree(plaintextHash);
    native.contextFree(ciphertextHash);
  }
}

/**
 * Known size, read in order through `reader` (a file when hashing, an object store): this thread
 * reads window w + 1 and hashes its ciphertext while the libuv thread decrypts window w in order,
 * checks its sync bytes and hashes its plaintext. The ciphertext of a window is hashed before its
 * job starts, because the job decrypts it in place.
 */
export async function decryptStreamWindows(input: WindowsInput): Promise<void> {
  const { native, reader, checks, sink, signal, padding, rangeSize } = input;
  const windowBytes = rangeSize * STREAM_RANGES_PER_WINDOW;
  let [current, spare] = windows(windowBytes);
  const syncing = checks.checkingMpegTs;
  // The plaintext SHA-256 is taken on the libuv thread, in order; the last block waits for the padding check.
  const hash: NativeContext | null = checks.hashing ? native.hashNew(4) : null;
  if (hash) checks.hashPlaintextElsewhere();
  const chain = Buffer.from(input.archiveKey.iv); // the IV of the next window: the last ciphertext block read
  let job: Promise<number> | undefined;
  let offset = 0;
  /** Takes in a window just read: hashes its ciphertext and returns its IV. */
  const accept = (window: Window, n: number, at: number): Buffer => {
    checks.ciphertext(window.data.subarray(0, n));
    if (n < windowBytes) checkedLength(at + n, padding, checks);
    const iv = Buffer.from(chain);
    if (n > 0) window.data.copy(chain, 0, n - BLOCK_SIZE, n);
    return iv;
  };
  const decrypt = (window: Window, n: number, iv: Buffer, at: number): Promise<number> =>
    libuvJob(checks.report.source, (done) =>
      native.decryptRanges(input.archiveKey.key, iv, -1, window.data, n, 1, 0, n, null, syncing ? at : -1, hash, hash ? n - BLOCK_SIZE : 0, done),
    );
  try {
    let n = await reader.fill(current.data);
    let iv = accept(current, n, 0);
    if (n === 0) {
      checks.recordFinal(); // nothing to unpad (-nopad of an empty input)
      return;
    }
    job = decrypt(current, n, iv, 0);
    for (;;) {
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      // Read ahead into the spare window (its plaintext was written last round) while this one decrypts.
      const next = n < windowBytes ? 0 : await reader.fill(spare.data);
      if (next > 0) iv = accept(spare, next, offset + n);
      const bad = await job;
      job = undefined;
      let plaintext = current.data.subarray(0, n);
      if (next === 0) {
        checkedLength(offset + n, padding, checks);
        const tail = plaintext.subarray(n - BLOCK_SIZE);
        const removed = removedPadding(tail, padding, checks);
        if (hash) native.digestUpdate(hash, tail, 0, BLOCK_SIZE - removed);
        plaintext = plaintext.subarray(0, n - removed);
      } else {
        // Not the last block after all: hash it before the next window's plaintext, then let the libuv thread go on.
        if (hash) native.digestUpdate(hash, plaintext, n - BLOCK_SIZE, BLOCK_SIZE);
        job = decrypt(spare, next, iv, offset + n);
      }
      checks.plaintext(plaintext, bad);
      await writeWindow(sink, plaintext);
      offset += n;
      input.onProgress?.(offset, input.total);
      if (next === 0) break;
      [current, spare] = [spare, current];
      n = next;
    }
    if (hash) {
      const digest = Buffer.alloc(32);
      native.digestFinal(hash, digest);
      checks.setPlaintextDigest(digest);
    }
  } finally {
    await job?.catch(() => undefined);
    chain.fill(0);
    if (hash) native.contextFree(hash);
  }
}
