/**
 * Encrypts media exactly as Vonage does (fresh AES-256 key and IV, CBC with PKCS#7, password wrapped
 * with RSA-OAEP-SHA-1), so users can test their pipeline end to end without a Vonage project.
 */
import type { KeyObject } from 'node:crypto';
import { AbortError, ArchiveCryptError } from '../../errors.js';
import { createArchivePassword, createCbcEncryptor } from '../../format/opentok.js';
import type { Source } from '../../storage/source.js';
import type { OutputSink } from '../output.js';
import { UPDATE_SLICE } from '../update-slice.js';

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
  const cipher = createCbcEncryptor(key, iv);
  key.fill(0);
  let plaintextBytes = 0;
  let ciphertextBytes = 0;
  const emit = async (bytes: Buffer) => {
    ciphertextBytes += bytes.length;
    if (bytes.length > 0) await sink.write(bytes);
  };
  try {
    for await (const chunk of source.read(0, undefined, signal)) {
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      plaintextBytes += chunk.byteLength;
      for (let offset = 0; offset < chunk.byteLength; offset += UPDATE_SLICE) {
        await emit(cipher.update(chunk.subarray(offset, offset + UPDATE_SLICE)));
      }
    }
    await emit(cipher.final());
    await sink.commit();
    return { password, plaintextBytes, ciphertextBytes };
  } catch (error) {
    await sink.abort();
    if (error instanceof ArchiveCryptError) throw error;
    if ((error as Error).name === 'AbortError') throw new AbortError('cancelled; no output was kept', { cause: error });
    throw error;
  }
}
