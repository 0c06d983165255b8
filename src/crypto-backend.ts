/**
 * The crypto backend the engine and format code run on (docs/ENGINE.md, "Backends"): the native core
 * when it loaded (src/native.ts), node:crypto otherwise. Both transform caller memory in place, so the
 * pipelines are written once: the native one allocates nothing per call; the node one feeds
 * `update()` small slices and copies each output back (its per-call allocation is why the native
 * core exists, design of the slices in docs/ENGINE.md).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, type Cipher, type Decipher, type Hash, type Hmac, type KeyObject } from 'node:crypto';
import { loadNative, NativeKind, type CryptoBackendName, type NativeBinding } from './native.js';

export type { CryptoBackendName } from './native.js';

/** An AES-256 context for one archive: keyed once, a new IV per range or segment. */
export interface InPlaceCipher {
  /** Starts a new range (CBC) or segment (CTR) under the same key. */
  setIv(iv: Uint8Array): void;
  /** Transforms `length` bytes at `offset` of `data` in place (CBC: a multiple of 16). */
  update(data: Uint8Array, offset?: number, length?: number): void;
  /** Releases the context; the native one cleanses its key schedule. Idempotent. */
  free(): void;
}

/** A streaming digest or HMAC; `final` writes it and starts the next message (an HMAC keeps its key). */
export interface InPlaceDigest {
  update(data: Uint8Array, offset?: number, length?: number): void;
  /** Writes the digest at `offset` of `out`; returns its length. */
  final(out: Uint8Array, offset?: number): number;
  free(): void;
}

export type CipherMode = 'cbc-decrypt' | 'cbc-encrypt' | 'ctr';

export interface CryptoBackend {
  readonly name: CryptoBackendName;
  cipher(mode: CipherMode, key: Uint8Array, iv: Uint8Array): InPlaceCipher;
  hmacSha256(key: Uint8Array): InPlaceDigest;
  hash(algorithm: 'sha256' | 'md5'): InPlaceDigest;
}

/**
 * Largest slice handed to node:crypto's `update()`: each call allocates its output, and small
 * allocations are much faster than large ones (measured: 64 KiB 2.6 GB/s, 4 MiB 0.6 GB/s).
 */
export const NODE_UPDATE_SLICE = 64 * 1024;

/**
 * Keeps glibc from handing the memory of `update()`'s outputs back to the kernel after every young
 * GC, for a large archive on node:crypto. V8 scavenges once ≈32 MiB of fresh ArrayBuffer memory
 * piled up; freeing those 64 KiB outputs leaves a free top of the malloc heap above the trim
 * threshold (128 KiB), so glibc shrinks the heap and the next 32 MiB are page-faulted and zeroed
 * again: 100–240 thousand faults per GiB, about a third of the fallback decrypt's CPU (bench/ANALYSIS.md,
 * "Fallback"). glibc raises that threshold, for every thread, to twice the size of a freed mmap'd
 * block of up to 32 MiB, and `update()` frees its scratch output (input size + 16) at once: one
 * update of 20 MiB lifts it to ≈40 MiB. Costs ≈30 ms once per process and keeps the heap at the size
 * it reached anyway (peak RSS +10–20 MB); elsewhere (musl, macOS) it is one wasted update.
 */
export function keepMallocHeap(): void {
  if (heapKept) return;
  heapKept = true;
  const scratch = createDecipheriv('aes-256-cbc', Buffer.alloc(32), Buffer.alloc(16));
  scratch.setAutoPadding(false);
  scratch.update(Buffer.alloc(20 * 1024 * 1024));
}
let heapKept = false;

/** From this size on a node:crypto decrypt calls `keepMallocHeap` (below it the ≈30 ms do not pay). */
export const KEEP_MALLOC_HEAP_FROM = 128 * 1024 * 1024;

class NodeCipher implements InPlaceCipher {
  private readonly key: KeyObject;
  private context: Cipher | Decipher;

  constructor(
    private readonly mode: CipherMode,
    key: Uint8Array,
    iv: Uint8Array,
  ) {
    this.key = createSecretKey(key);
    this.context = this.make(iv);
  }

  private make(iv: Uint8Array): Cipher | Decipher {
    const context = this.mode === 'ctr' ? createCipheriv('aes-256-ctr', this.key, iv) : this.mode === 'cbc-encrypt' ? createCipheriv('aes-256-cbc', this.key, iv) : createDecipheriv('aes-256-cbc', this.key, iv);
    context.setAutoPadding(false);
    return context;
  }

  setIv(iv: Uint8Array): void {
    this.context = this.make(iv);
  }

  update(data: Uint8Array, offset = 0, length = data.byteLength - offset): void {
    if (this.mode !== 'ctr' && length % 16 !== 0) throw new RangeError('CBC data must be a multiple of 16 bytes');
    const end = offset + length;
    for (let at = offset; at < end; at += NODE_UPDATE_SLICE) {
      const slice = data.subarray(at, Math.min(at + NODE_UPDATE_SLICE, end));
      data.set(this.context.update(slice), at);
    }
  }

  free(): void {
    // A KeyObject cannot be cleansed from JavaScript; dropping it is all node:crypto allows.
  }
}

class NodeDigest implements InPlaceDigest {
  private context: Hash | Hmac;

  constructor(private readonly make: () => Hash | Hmac) {
    this.context = make();
  }

  update(data: Uint8Array, offset = 0, length = data.byteLength - offset): void {
    this.context.update(offset === 0 && length === data.byteLength ? data : data.subarray(offset, offset + length));
  }

  final(out: Uint8Array, offset = 0): number {
    const digest = this.context.digest();
    if (out.byteLength - offset < digest.byteLength) throw new RangeError('out has no room for the digest');
    out.set(digest, offset);
    this.context = this.make();
    return digest.byteLength;
  }

  free(): void {}
}

/** node:crypto, as the engine ran before the native core: always available. */
export const nodeBackend: CryptoBackend = {
  name: 'node',
  cipher: (mode, key, iv) => new NodeCipher(mode, key, iv),
  hmacSha256(key) {
    const secret = createSecretKey(key);
    return new NodeDigest(() => createHmac('sha256', secret));
  },
  hash: (algorithm) => new NodeDigest(() => createHash(algorithm)),
};

class NativeCipher implements InPlaceCipher {
  private context: ReturnType<NativeBinding['cipherNew']> | undefined;

  constructor(
    private readonly native: NativeBinding,
    mode: CipherMode,
    key: Uint8Array,
    iv: Uint8Array,
  ) {
    this.context = native.cipherNew(mode === 'ctr' ? NativeKind.ctr : mode === 'cbc-encrypt' ? NativeKind.cbcEncrypt : NativeKind.cbcDecrypt, key, iv);
  }

  setIv(iv: Uint8Array): void {
    this.native.cipherSetIv(this.live(), iv);
  }

  update(data: Uint8Array, offset?: number, length?: number): void {
    this.native.cipherUpdate(this.live(), data, offset, length);
  }

  private live(): ReturnType<NativeBinding['cipherNew']> {
    if (!this.context) throw new Error('cipher context already freed');
    return this.context;
  }

  free(): void {
    if (this.context) this.native.contextFree(this.context);
    this.context = undefined;
  }
}

class NativeDigest implements InPlaceDigest {
  private context: ReturnType<NativeBinding['hashNew']> | undefined;

  constructor(
    private readonly native: NativeBinding,
    context: ReturnType<NativeBinding['hashNew']>,
  ) {
    this.context = context;
  }

  update(data: Uint8Array, offset?: number, length?: number): void {
    this.native.digestUpdate(this.live(), data, offset, length);
  }

  final(out: Uint8Array, offset?: number): number {
    return this.native.digestFinal(this.live(), out, offset);
  }

  private live(): ReturnType<NativeBinding['hashNew']> {
    if (!this.context) throw new Error('digest context already freed');
    return this.context;
  }

  free(): void {
    if (this.context) this.native.contextFree(this.context);
    this.context = undefined;
  }
}

/** A backend over `native` (the tests of both backends build it whatever ARCHIVE_CRYPT_NATIVE says). */
export function nativeBackendOf(native: NativeBinding): CryptoBackend {
  return {
    name: 'native',
    cipher: (mode, key, iv) => new NativeCipher(native, mode, key, iv),
    hmacSha256: (key) => new NativeDigest(native, native.hmacNew(key)),
    hash: (algorithm) => new NativeDigest(native, native.hashNew(algorithm === 'md5' ? NativeKind.md5 : NativeKind.sha256)),
  };
}

let nativeBackend: CryptoBackend | undefined;

/**
 * The backend named, or the best available: native when it loaded (and ARCHIVE_CRYPT_NATIVE is not
 * 0), else node. Asking for `native` when it is unavailable gives node: the fallback always works.
 */
export function cryptoBackend(name?: CryptoBackendName): CryptoBackend {
  if (name === 'node') return nodeBackend;
  const native = loadNative();
  if (!native) return nodeBackend;
  nativeBackend ??= nativeBackendOf(native);
  return nativeBackend;
}
