/**
 * Encrypts media exactly as Vonage does (fresh AES-256 key and IV, CBC with PKCS#7, password wrapped
 * with RSA-OAEP-SHA-1), so users can test their pipeline end to end without a Vonage project.
 */
import type { KeyObject } from 'node:crypto';
import { AbortError, ArchiveCryptError } from '../../errors.js';
import { cryptoBackend } from '../../crypto-backend.js';
import { BLOCK_SIZE, createArchivePassword } from '../../format/opentok.js';
import type { Source } from '../../storage/source.js';
import { writeReleasing, type OutputSink } from '../../storage/output-sink.js';
import { openCiphertextReader } from '../reader.js';

const READ_SIZE = 1024 * 1024;

export interface EncryptArchiveOptions {
  source: Source;
  /** The recipient's public key (from the certificate registered with Vonage). */
  publicKey: KeyObject;
  sink: OutputSink;
  signal?: AbortSignal;
}

export interface EncryptResult {
  /** base64 RSA-OAEP password, as Vonage returns it in the archive JSON. */
  password: string;
  plaintextBytes: number;
  ciphertextBytes: number;
}

/**
 * @example
 * ```ts
 * const { password } = await encryptArchive({ source, publicKey: cert.publicKey, sink });
 * ```
 */
export async function encryptArchive(options: EncryptArchiveOptions): Promise<EncryptResult> {
  const { source, sink, signal } = options;
  const { password, key, iv } = createArchivePassword(options.publicKey);
  // In place on the crypto backend (the native core when it loaded): no output allocated per chunk.
  const cipher = cryptoBackend().cipher('cbc-encrypt', key, iv);
  key.fill(0);
  let plaintextBytes = 0;
  let ciphertextBytes = 0;
  // Room for the bytes short of a block carried over from the read before, and for the padding.
  let current = Buffer.allocUnsafeSlow(READ_SIZE + 2 * BLOCK_SIZE);
  let spare = Buffer.allocUnsafeSlow(READ_SIZE + 2 * BLOCK_SIZE);
  let carried = 0;
  try {
    // stat first: a missing input fails with the source's own message, as decrypt's does.
    const reader = await openCiphertextReader(source, { signal, info: await source.stat(signal) });
    try {
      for (;;) {
        if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
        const n = await reader.fill(current.subarray(carried, carried + READ_SIZE));
        plaintextBytes += n;
        let length = carried + n;
        const last = n < READ_SIZE;
        if (last) {
          // PKCS#7: 1–16 bytes, each the padding's length.
          const pad = BLOCK_SIZE - (length % BLOCK_SIZE);
          current.fill(pad, length, length + pad);
          length += pad;
        }
        const whole = length - (length % BLOCK_SIZE);
        cipher.update(current, 0, whole);
        carried = length - whole;
        current.copy(spare, 0, whole, length);
        ciphertextBytes += whole;
        await writeReleasing(sink, current.subarray(0, whole));
        [current, spare] = [spare, current];
        if (last) break;
      }
    } finally {
      await reader.close();
    }
    await sink.commit();
    return { password, plaintextBytes, ciphertextBytes };
  } catch (error) {
    await sink.abort();
    if (error instanceof ArchiveCryptError) throw error;
    if ((error as Error).name === 'AbortError') throw new AbortError('cancelled; no output was kept', { cause: error });
    throw error;
  } finally {
    cipher.free();
    current.fill(0);
    spare.fill(0);
  }
}
