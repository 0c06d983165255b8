/**
 * Vonage (OpenTok) encrypted archive format, docs/ARCHITECTURE.md §2.4–§2.5:
 *
 * - password = base64( RSA-OAEP( version=1 | alg=1 (AES-256) | mode=1 (CBC/PKCS#7) | key[32] | iv[16] ) ),
 *   OAEP with SHA-1/MGF1-SHA-1 and an empty label (SHA-256 accepted as a fallback);
 * - body = AES-256-CBC(key, iv, plaintext) with PKCS#7 padding, no MAC.
 *
 * Pure byte functions: no files, no streams.
 */
import { constants, createCipheriv, createDecipheriv, publicEncrypt, randomBytes } from 'node:crypto';
import type { Cipher, Decipher, KeyObject } from 'node:crypto';
import { IntegrityError, PasswordError } from '../errors.js';

export const BLOCK_SIZE = 16;
export const PASSWORD_BLOB_SIZE = 51;
const HEADER = [0x01, 0x01, 0x01] as const;

/** The unwrapped archive password: the AES-256 key and CBC IV. Call `destroy()` when done. */
export interface ArchiveKey {
  key: Buffer;
  iv: Buffer;
  /** Index of the key in the keyring that unwrapped it. */
  keyIndex: number;
  /** The OAEP hash the password was made with. */
  oaepHash: 'sha1' | 'sha256';
}

/** Zeroes the key material of an unwrapped password. */
export function destroyArchiveKey(archiveKey: ArchiveKey): void {
  archiveKey.key.fill(0);
  archiveKey.iv.fill(0);
}

/**
 * What unwrapping needs of a private key: src/keys/keyring.ts's `PrivateKeyHandle` (a key file or a
 * token key) has this shape; the format code only names it.
 */
export interface OaepKey {
  /** RSA modulus size in bits. */
  readonly bits: number;
  /** RSA-OAEP decryption; resolves undefined when the OAEP check fails (wrong key or hash). */
  decryptOaep(data: Uint8Array, hash: 'sha1' | 'sha256'): Promise<Buffer | undefined>;
}

/**
 * Unwraps a Vonage archive password with the first key of the keyring that opens it (OAEP SHA-1 as
 * Vonage makes it, then SHA-256), so archives made under an old certificate still decrypt after
 * rotation. Every key is tried before the password is refused.
 *
 * @example
 * ```ts
 * const archiveKey = await unwrapPassword(json.password, await openKeyring(['current.pem', 'previous.pem']));
 * ```
 * @throws PasswordError (exit 3) when the password is malformed, no key opens it, or the blob is not
 *   version 1 / AES-256 / CBC.
 */
export async function unwrapPassword(password: string, keyring: { readonly keys: readonly OaepKey[] }): Promise<ArchiveKey> {
  const keys = keyring.keys;
  const wrapped = decodeBase64Strict(password.trim());
  if (!wrapped) throw new PasswordError('malformed archive password: not base64 (copy the "password" field of the archive JSON whole)');
  const modulusBytes = new Set(keys.map((key) => Math.ceil(key.bits / 8)));
  if (!modulusBytes.has(wrapped.length)) {
    throw new PasswordError(
      `malformed archive password: ${wrapped.length} bytes after base64, but the key(s) given need ${[...modulusBytes].join(' or ')} (truncated, or made for another key)`,
    );
  }
  // A key that cannot try a hash at all (a token without SHA-256 OAEP) must not stop the search: a
  // later key may open the password. Its reason is added only if no key does.
  let unable: unknown;
  for (const [keyIndex, key] of keys.entries()) {
    for (const oaepHash of ['sha1', 'sha256'] as const) {
      let blob: Buffer | undefined;
      try {
        // OAEP's integrity check rejects a wrong key or hash (undefined): try the next.
        blob = await key.decryptOaep(wrapped, oaepHash);
      } catch (error) {
        unable ??= error;
        continue;
      }
      if (!blob) continue;
      try {
        return { ...parsePasswordBlob(blob), keyIndex, oaepHash };
      } finally {
        blob.fill(0);
      }
    }
  }
  const couldNotTry = unable instanceof Error ? `; also, ${unable.message}` : '';
  throw new PasswordError(
    (keys.length > 1
      ? `none of the ${keys.length} keys opens the archive password (made for another certificate?)`
      : 'the key does not open the archive password: wrong key, or the password was made for another certificate') + couldNotTry,
  );
}

/** Splits the 51-byte blob into key and IV, checking the version/algorithm/mode header. */
export function parsePasswordBlob(blob: Uint8Array): { key: Buffer; iv: Buffer } {
  if (blob.length !== PASSWORD_BLOB_SIZE) {
    throw new PasswordError(`unsupported archive password: ${blob.length} bytes inside, expected ${PASSWORD_BLOB_SIZE}`);
  }
  if (blob[0] !== HEADER[0] || blob[1] !== HEADER[1] || blob[2] !== HEADER[2]) {
    throw new PasswordError(
      `unsupported archive password: version/algorithm/mode ${blob[0]}/${blob[1]}/${blob[2]}, expected 1/1/1 (AES-256-CBC)`,
    );
  }
  return { key: Buffer.from(blob.subarray(3, 35)), iv: Buffer.from(blob.subarray(35, 51)) };
}

/** Builds the 51-byte blob from a key and IV. */
export function encodePasswordBlob(key: Uint8Array, iv: Uint8Array): Buffer {
  if (key.length !== 32 || iv.length !== BLOCK_SIZE) throw new RangeError('key must be 32 bytes and iv 16 bytes');
  return Buffer.concat([Buffer.from(HEADER), key, iv]);
}

/**
 * Creates a fresh archive key and IV and wraps them for `publicKey` exactly as Vonage does
 * (RSA-OAEP-SHA-1), returning the base64 password and the raw key material.
 */
export function createArchivePassword(publicKey: KeyObject): { password: string; key: Buffer; iv: Buffer } {
  const key = randomBytes(32);
  const iv = randomBytes(BLOCK_SIZE);
  const blob = encodePasswordBlob(key, iv);
  try {
    const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, blob);
    return { password: wrapped.toString('base64'), key, iv };
  } finally {
    blob.fill(0);
  }
}

function decodeBase64Strict(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** How the end of the plaintext is read: strip PKCS#7 (reference C# code) or keep it (`openssl -nopad`). */
export type Padding = 'pkcs7' | 'none';

/**
 * A streaming AES-256-CBC decryptor for one contiguous ciphertext range. `update` takes any chunk
 * sizes; `final` checks that the range ended on a block boundary and, when `padding` is pkcs7,
 * removes and validates the padding (OpenSSL checks every padding byte).
 */
export class CbcDecryptor {
  private readonly decipher: Decipher;
  private consumed = 0;

  constructor(key: Uint8Array, iv: Uint8Array, readonly padding: Padding) {
    this.decipher = createDecipheriv('aes-256-cbc', key, iv);
    this.decipher.setAutoPadding(padding === 'pkcs7');
  }

  /** Number of ciphertext bytes taken so far. */
  get ciphertextBytes(): number {
    return this.consumed;
  }

  update(chunk: Uint8Array): Buffer {
    this.consumed += chunk.byteLength;
    return this.decipher.update(chunk);
  }

  /** @throws IntegrityError for a length that is not a positive multiple of 16, or bad padding. */
  final(): Buffer {
    assertCiphertextLength(this.consumed, this.padding);
    try {
      return this.decipher.final();
    } catch (error) {
      throw new IntegrityError('invalid PKCS#7 padding: wrong key, or the archive is truncated or corrupted at its end', {
        cause: error,
      });
    }
  }
}

/** Checks the one thing the length alone can tell: a positive multiple of the block size. */
export function assertCiphertextLength(size: number, padding: Padding): void {
  if (size === 0 && padding === 'pkcs7') throw new IntegrityError('empty archive: an encrypted archive is at least 16 bytes');
  if (size % BLOCK_SIZE !== 0) {
    throw new IntegrityError(`archive length ${size} is not a multiple of 16: truncated or not a Vonage encrypted archive`);
  }
}

/** Creates a streaming AES-256-CBC encryptor with PKCS#7 padding (Vonage's format). */
export function createCbcEncryptor(key: Uint8Array, iv: Uint8Array): Cipher {
  return createCipheriv('aes-256-cbc', key, iv);
}

/** Ciphertext size of a plaintext of `plaintextSize` bytes (PKCS#7 always adds 1–16 bytes). */
export function ciphertextSize(plaintextSize: number): number {
  return (Math.floor(plaintextSize / BLOCK_SIZE) + 1) * BLOCK_SIZE;
}

/**
 * Plaintext size of a ciphertext: exact once the last plaintext block is known (pkcs7), else the bounds.
 */
export function plaintextSize(ciphertextBytes: number, padding: Padding, lastPlainBlock?: Uint8Array): number {
  if (padding === 'none') return ciphertextBytes;
  if (!lastPlainBlock) return ciphertextBytes - BLOCK_SIZE; // lower bound; exact needs the last block
  return ciphertextBytes - paddingLength(lastPlainBlock);
}

/** Validates PKCS#7 padding of the final plaintext block and returns its length (1–16). */
export function paddingLength(lastPlainBlock: Uint8Array): number {
  const n = lastPlainBlock[lastPlainBlock.length - 1] ?? 0;
  let bad = n === 0 || n > BLOCK_SIZE || lastPlainBlock.length !== BLOCK_SIZE ? 1 : 0;
  for (let i = 0; i < BLOCK_SIZE; i += 1) {
    // Branch-free over all 16 bytes, like OpenSSL, rather than stopping at the first mismatch.
    const inPad = i >= BLOCK_SIZE - n ? 1 : 0;
    bad |= inPad & ((lastPlainBlock[i] ?? 0) !== n ? 1 : 0);
  }
  if (bad) throw new IntegrityError('invalid PKCS#7 padding: wrong key, or the archive is truncated or corrupted at its end');
  return n;
}

/** A ciphertext range that can be decrypted on its own: its IV is the ciphertext block before it. */
export interface CbcRange {
  index: number;
  /** First ciphertext byte (multiple of 16). */
  start: number;
  /** One past the last ciphertext byte (multiple of 16). */
  end: number;
  /** Offset of the 16-byte block serving as IV, or -1 when the archive IV applies (first range). */
  ivOffset: number;
  /** Only the last range removes padding. */
  last: boolean;
}

/**
 * Splits a ciphertext of `size` bytes into ranges of about `rangeSize` bytes at 16-byte boundaries.
 * CBC decryption of block i needs only ciphertext blocks i−1 and i (docs/ARCHITECTURE.md §2.5), so every range
 * decrypts independently with IV = the block before it.
 */
export function planCbcRanges(size: number, rangeSize: number): CbcRange[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('size must be a non-negative integer');
  if (!Number.isSafeInteger(rangeSize) || rangeSize < BLOCK_SIZE || rangeSize % BLOCK_SIZE !== 0) {
    throw new RangeError('rangeSize must be a positive multiple of 16');
  }
  const ranges: CbcRange[] = [];
  for (let start = 0, index = 0; start < size || index === 0; start += rangeSize, index += 1) {
    const end = Math.min(size, start + rangeSize);
    ranges.push({ index, start, end, ivOffset: start === 0 ? -1 : start - BLOCK_SIZE, last: end === size });
    if (size === 0) break;
  }
  return ranges;
}
