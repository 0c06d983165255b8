/**
 * The loader of the optional native core (native/archive_crypt.c, docs/ENGINE.md "Native core"): AES,
 * HMAC and digests in place on caller memory over Node's own OpenSSL, and the Linux O_TMPFILE pair.
 * It returns the binding, or undefined — then everything runs on node:crypto — and keeps the reason
 * the native core is not used, for `--debug` and the reports' `"crypto"` field.
 */
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';

/** An OpenSSL context owned by the addon (opaque). Free it with `contextFree` when the archive is done. */
export type NativeContext = { readonly __nativeContext: unique symbol };

/**
 * A read-only mapping of a local file owned by the addon (opaque; its memory is never handed to
 * JavaScript). Every read of it runs in C under the addon's SIGBUS guard, so a file that shrinks
 * while mapped fails the read (`shrankAt`) instead of killing the process. Unmap it with
 * `unmapFile` when the archive is done (the GC would only do it eventually).
 */
export type NativeMapping = { readonly __nativeMapping: unique symbol };
/** The sealed pipelines' ring of runs owned by the addon (opaque); see `sealedRing`. */
export type NativeRing = { readonly __nativeRing: unique symbol };

/** The `kind` argument of `cipherNew` and `hashNew`, as native/archive_crypt.c numbers them. */
export const NativeKind = { cbcDecrypt: 0, cbcEncrypt: 1, ctr: 2, sha256: 4, md5: 5 } as const;

export interface NativeBinding {
  /** AES-256 in CBC (no padding: the caller handles PKCS#7) or CTR mode, keyed once. */
  cipherNew(kind: 0 | 1 | 2, key: Uint8Array, iv: Uint8Array): NativeContext;
  /** Starts a new range or segment under the same key schedule. */
  cipherSetIv(context: NativeContext, iv: Uint8Array): void;
  /** Transforms `length` bytes at `offset` of `data` in place (CBC: a multiple of 16). */
  cipherUpdate(context: NativeContext, data: ArrayBufferView, offset?: number, length?: number): void;
  /** HMAC-SHA256 keyed once; `digestFinal` starts the next message under the same key. */
  hmacNew(key: Uint8Array): NativeContext;
  hashNew(kind: 4 | 5): NativeContext;
  digestUpdate(context: NativeContext, data: ArrayBufferView, offset?: number, length?: number): void;
  /** Writes the MAC or digest at `offset` of `out`, resets the context, and returns the digest length. */
  digestFinal(context: NativeContext, out: ArrayBufferView, offset?: number): number;
  /** Frees and cleanses the context now (idempotent); later calls on it throw. */
  contextFree(context: NativeContext): void;
  /**
   * Decrypts a window of `count` CBC ranges of `rangeSize` bytes in place at `data` (range i at file
   * position `firstPosition` + i·rangeSize; the window ends at `end`), checking MPEG-TS sync bytes
   * from absolute plaintext offset `syncBase` (-1: no check). With `fd` ≥ 0 each range is read by
   * position with the block before it as IV (`iv` for position 0), and the ranges are taken from
   * the atomic counter `claims[0]` (shared by every thread on the window) when given. Without `fd`
   * the window is one range already in `data`, decrypted from `iv`; then `hash` (a hash context)
   * may take its first `hashLength` plaintext bytes. With a `mapping` (mapFile) in place of `fd`, range
   * i is decrypted out of place from the mapping into its place in `data` (nothing is read into
   * `data` first); with claims the ranges are shared as with `fd`, without them they run in order and
   * may be hashed. Returns the first bad sync offset (-1: none); with a
   * callback the job runs on a libuv thread and the callback gets (error, that offset). Errors carry
   * `errno`/`syscall` (a failed pread) or `shrankAt` (the file ended early, or shrank while mapped).
   */
  decryptRanges(
    key: Uint8Array,
    iv: Uint8Array,
    fd: number | NativeMapping,
    data: Uint8Array,
    rangeSize: number,
    count: number,
    firstPosition: number,
    end: number,
    claims: Int32Array | null,
    syncBase: number,
    hash: NativeContext | null,
    hashLength: number,
    callback?: (error: Error | null, firstBadSync: number) => void,
  ): number;
  /**
   * The sealed pipelines' segment loop (native/archive_crypt.c "sealedRing"): the body is `runs` runs
   * of `runInput` input bytes from file position `start` (the last ends at `end`), read by position
   * from `fd` and sealed (`seal`) or verified and opened in slot r % slots of `data` (`slot` bytes
   * each, the input at `inputOffset`). `keys` is the 96-byte key state (encryption key, MAC key,
   * header tag), copied. `control` (Int32Array over a SharedArrayBuffer, 3 + slots, zeroed): [0] next
   * run to claim, [1] runs written out by the caller (a slot is free once its run was), [2] stop,
   * [3 + s] run + 1 once the run in slot s is finished. `results` (8 per slot): output bytes, failed
   * segment index (-1), failure (0 none, 1 tag, 2 length, 3 final segment missing), 1 when the failed
   * segment is the final one, read error (0 none, 1 errno, 2 the file ended early), errno, where it
   * ended. Free it with `sealedRingFree` once `sealedRingWork` called back.
   */
  sealedRing?(
    seal: boolean,
    keys: Uint8Array,
    fd: number,
    data: Uint8Array,
    slot: number,
    inputOffset: number,
    runInput: number,
    runs: number,
    start: number,
    end: number,
    segmentSize: number,
    control: Int32Array,
    results: Float64Array,
  ): NativeRing;
  /** A libuv thread takes runs of the ring until none is left (or stop); then the callback. */
  sealedRingWork?(ring: NativeRing, callback: (error: Error | null) => void): void;
  /** Takes and finishes one run on this thread: its index, -1 when none is left, -2 while the ring is full. */
  sealedRingRun?(ring: NativeRing): number;
  /** Returns once `run`, claimed by another thread, is finished (at most one run's work away). */
  sealedRingWait?(ring: NativeRing, run: number): void;
  /** Cleanses the ring's keys and frees its contexts (idempotent). */
  sealedRingFree?(ring: NativeRing): void;
  /**
   * Maps the first `size` (> 0) bytes of the open file `fd` read-only, for `decryptRanges` and
   * `digestMapped` (and the C code of other jobs: native/archive_crypt.c "File mappings"). Throws a
   * Node-style error (`code` ENODEV for pipes and special files, …) where the file cannot be mapped:
   * read it by position or in order then. Installs the addon's SIGBUS handler on first use (it
   * passes any fault outside its guarded reads to the handler that was there before).
   */
  mapFile(fd: number, size: number): NativeMapping;
  /** Unmaps now (idempotent; later use throws); throws while an async job still reads the mapping. */
  unmapFile(mapping: NativeMapping): void;
  /**
   * Drops the process's hold on the whole pages of that part of the mapping (MADV_DONTNEED; the page
   * cache keeps them): mapped pages that were read count in the resident set until released.
   */
  releaseMapped(mapping: NativeMapping, offset: number, length: number): void;
  /**
   * `digestUpdate` over `length` mapped bytes at `offset`, guarded. Returns -1, or the offset at
   * which the file ended (it shrank while mapped; the digest is unusable then); with a callback it
   * runs on a libuv thread and the callback gets (error, that offset) — leave the context alone
   * until then.
   */
  digestMapped(context: NativeContext, mapping: NativeMapping, offset: number, length: number, callback?: (error: Error | null, shrankAt: number) => void): number;
  /**
   * An unnamed file (mode 0600) in `directory`, gone if the process dies before `linkTmpfile` names
   * it. Throws a Node-style error (`code` EOPNOTSUPP, EISDIR, ENOENT, …) where unsupported.
   */
  openTmpfile(directory: string): number;
  /** Links the unnamed file `fd` at `target`; never replaces a file (`code` EEXIST). */
  linkTmpfile(fd: number, target: string): void;
}

export type CryptoBackendName = 'native' | 'node';

let loaded: { binding: NativeBinding | undefined; reason: string | undefined } | undefined;

/** The native binding, or undefined when it is switched off, not built, or does not load. */
export function loadNative(): NativeBinding | undefined {
  loaded ??= tryLoad();
  return loaded.binding;
}

/** Why the native core is not used (undefined when it is). */
export function nativeUnavailableReason(): string | undefined {
  loaded ??= tryLoad();
  return loaded.reason;
}

function tryLoad(): { binding: NativeBinding | undefined; reason: string | undefined } {
  if (process.env.ARCHIVE_CRYPT_NATIVE === '0') return { binding: undefined, reason: 'switched off by ARCHIVE_CRYPT_NATIVE=0' };
  return loadNativeBinding();
}

/** Loads the addon whatever ARCHIVE_CRYPT_NATIVE says (its own tests; everything else calls `loadNative`). */
export function loadNativeBinding(): { binding: NativeBinding | undefined; reason: string | undefined } {
  // The same relative path from src/ (vitest) and from dist/ (the built package).
  const path = new URL('../native/build/Release/archive_crypt.node', import.meta.url);
  try {
    const raw = createRequire(import.meta.url)(path.pathname) as NativeBinding;
    return { binding: withErrnoCodes(raw), reason: undefined };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'MODULE_NOT_FOUND' ? 'not built (npm ci builds it when a C compiler and Node headers are present)' : `does not load: ${(error as Error).message.split('\n')[0] ?? ''}`;
    return { binding: undefined, reason };
  }
}

/** The addon throws errors with `errno` and `syscall`; give them Node's `code` as fs errors have. */
function withErrnoCodes(raw: NativeBinding): NativeBinding {
  const withCode = <A extends unknown[], R>(call: (...args: A) => R) => (...args: A): R => {
    try {
      return call(...args);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).errno;
      if (typeof errno === 'number' && errno > 0) {
        const code = getSystemErrorName(-errno);
        Object.assign(error as object, { code, message: `${code}: ${(error as Error).message}` });
      }
      throw error;
    }
  };
  return {
    ...raw,
    openTmpfile: withCode((directory: string) => raw.openTmpfile(directory)),
    linkTmpfile: withCode((fd: number, target: string) => raw.linkTmpfile(fd, target)),
    mapFile: withCode((fd: number, size: number) => raw.mapFile(fd, size)),
  };
}
