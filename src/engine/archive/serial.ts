/**
 * The one-thread pipeline: read, decrypt and write in order on the main thread. It is the fast path
 * for small archives and pipes (no thread start-up to pay for) and already on par with
 * `openssl enc -d` (design.md §7): two reused read buffers (the next read runs on a libuv thread
 * while this one decrypts) and `decipher.update` fed 64 KiB slices.
 */
import { AbortError } from '../../errors.js';
import { CbcDecryptor } from '../../format/opentok.js';
import type { ArchiveChecks } from './checks.js';
import type { OutputSink } from '../output.js';
import type { CiphertextReader } from '../reader.js';
import { UPDATE_SLICE } from '../update-slice.js';

const READ_SIZE = 1024 * 1024;

export interface PipelineInput {
  reader: CiphertextReader;
  archiveKey: { key: Uint8Array; iv: Uint8Array };
  checks: ArchiveChecks;
  sink: OutputSink;
  padding: 'pkcs7' | 'none';
  signal?: AbortSignal | undefined;
  onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
  total: number | undefined;
}

/** Decrypts everything `reader` yields into the sink, feeding the checks. Throws on the first failure. */
export async function decryptSerial(input: PipelineInput): Promise<void> {
  const { reader, checks, sink, signal } = input;
  const decryptor = new CbcDecryptor(input.archiveKey.key, input.archiveKey.iv, input.padding);
  let current = Buffer.allocUnsafeSlow(READ_SIZE);
  let spare = Buffer.allocUnsafeSlow(READ_SIZE);
  let next = reader.fill(current);
  try {
    for (;;) {
      const n = await next;
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      const chunk = current.subarray(0, n);
      [current, spare] = [spare, current];
      // Read ahead into the other buffer while this one is decrypted.
      next = n === READ_SIZE ? reader.fill(current) : Promise.resolve(0);
      checks.ciphertext(chunk);
      for (let offset = 0; offset < n; offset += UPDATE_SLICE) {
        const plain = decryptor.update(chunk.subarray(offset, Math.min(offset + UPDATE_SLICE, n)));
        if (plain.length > 0) {
          checks.plaintext(plain);
          await sink.write(plain);
        }
      }
      input.onProgress?.(decryptor.ciphertextBytes, input.total);
      if (n < READ_SIZE) break;
    }
  } catch (error) {
    next.catch(() => undefined);
    throw error;
  }
  let tail: Buffer;
  try {
    tail = decryptor.final();
    checks.recordFinal();
  } catch (error) {
    checks.recordFinal(error);
    throw error;
  }
  if (tail.length > 0) {
    checks.plaintext(tail);
    await sink.write(tail);
  }
}
