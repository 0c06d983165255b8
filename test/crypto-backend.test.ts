/**
 * Property test (fast-check; FC_RUNS raises the run count): the two crypto backends (docs/ENGINE.md)
 * and the openssl command line agree — AES-256-CBC decryption over random sizes, random range
 * splits (each range keyed with the ciphertext block before it, as the pool does) and paddings,
 * AES-256-CTR and HMAC-SHA256 over random splits.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nativeBackendOf, nodeBackend, type CryptoBackend } from '../src/crypto-backend.js';
import { paddingLength } from '../src/format/opentok.js';
import { loadNativeBinding } from '../src/native.js';
import { openssl, tempDir } from './support/helpers.js';

const numRuns = Number(process.env.FC_RUNS ?? 25);

/** The native backend whatever ARCHIVE_CRYPT_NATIVE says, or a failure that says why it is missing. */
function nativeBackend(): CryptoBackend {
  const { binding, reason } = loadNativeBinding();
  if (!binding) throw new Error(`native core unavailable: ${reason} (npm ci builds it; see native/build/build.log)`);
  return nativeBackendOf(binding);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Decrypts `ciphertext` as the engine does: ranges cut at `cuts` (in blocks), each with its own IV. */
function decryptInRanges(backend: CryptoBackend, key: Buffer, iv: Buffer, ciphertext: Buffer, cuts: number[]): Buffer {
  const data = Buffer.from(ciphertext);
  const blocks = data.length / 16;
  const bounds = [...new Set([0, ...cuts.map((cut) => cut % (blocks + 1)), blocks])].sort((a, b) => a - b);
  const cipher = backend.cipher('cbc-decrypt', key, iv);
  // Ranges are decrypted out of order, so their IVs are taken before any of them is decrypted.
  const ivs = bounds.map((start) => (start === 0 ? iv : Buffer.from(ciphertext.subarray(start * 16 - 16, start * 16))));
  for (let i = bounds.length - 2; i >= 0; i -= 1) {
    const start = (bounds[i] ?? 0) * 16;
    cipher.setIv(ivs[i] ?? iv);
    cipher.update(data, start, (bounds[i + 1] ?? 0) * 16 - start);
  }
  cipher.free();
  return data;
}

describe('native = node:crypto = openssl', () => {
  it('AES-256-CBC decryption over random sizes, range splits and paddings', async () => {
    const native = nativeBackend();
    const dir = await tempDir();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.constantFrom('pkcs7' as const, 'none' as const),
        async (size, cuts, padding) => {
          const key = randomBytes(32);
          const iv = randomBytes(16);
          const plainPath = join(dir, 'plain');
          // -nopad needs whole blocks; pkcs7 adds 1–16 bytes to any size.
          const plaintext = randomBytes(padding === 'none' ? size - (size % 16) : size);
          await writeFile(plainPath, plaintext);
          const ciphertext = (await openssl(['enc', '-aes-256-cbc', ...(padding === 'none' ? ['-nopad'] : []), '-K', hex(key), '-iv', hex(iv), '-in', plainPath])).stdoutBytes;
          const fromNative = decryptInRanges(native, key, iv, ciphertext, cuts);
          const fromNode = decryptInRanges(nodeBackend, key, iv, ciphertext, cuts);
          expect(fromNative.equals(fromNode)).toBe(true);
          const unpadded = padding === 'none' || fromNative.length === 0 ? fromNative : fromNative.subarray(0, fromNative.length - paddingLength(fromNative.subarray(-16)));
          expect(unpadded.equals(plaintext)).toBe(true);
        },
      ),
      { numRuns },
    );
  });

  it('AES-256-CTR and HMAC-SHA256 over random splits', async () => {
    const native = nativeBackend();
    const dir = await tempDir();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 20_000 }), fc.array(fc.nat(), { maxLength: 5 }), async (message, cuts) => {
        const key = randomBytes(32);
        const iv = randomBytes(16);
        const path = join(dir, 'message');
        await writeFile(path, message);
        const expected = (await openssl(['enc', '-aes-256-ctr', '-K', hex(key), '-iv', hex(iv), '-in', path])).stdoutBytes;
        const bounds = [...new Set([0, ...cuts.map((cut) => cut % (message.length + 1)), message.length])].sort((a, b) => a - b);
        for (const backend of [native, nodeBackend]) {
          const data = Buffer.from(message);
          const cipher = backend.cipher('ctr', key, iv);
          const mac = backend.hmacSha256(key);
          for (let i = 0; i + 1 < bounds.length; i += 1) {
            const start = bounds[i] ?? 0;
            mac.update(data, start, (bounds[i + 1] ?? 0) - start);
            cipher.update(data, start, (bounds[i + 1] ?? 0) - start);
          }
          const tag = Buffer.alloc(32);
          mac.final(tag);
          cipher.free();
          mac.free();
          expect(data.equals(expected)).toBe(true);
          expect(tag.equals(createHmac('sha256', key).update(message).digest())).toBe(true);
        }
      }),
      { numRuns },
    );
  });
});
