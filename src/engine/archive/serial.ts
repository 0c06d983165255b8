/**
 * The one-thread pipeline: read, decrypt in place and write in order on the main thread. It is the
 * path for small archives and pipes (no thread start-up to pay for): two reused read buffers (the
 * next read runs on a libuv thread while this one decrypts) decrypted in place by the crypto backend
 * (docs/ENGINE.md). The last plaintext block of each read waits at the head of the next buffer until
 * the data ends, because only the very last block carries the padding.
 */
import { KEEP_MALLOC_HEAP_FROM, keepMallocHeap, type CryptoBackend } from '../../crypto-backend.js';
import { AbortError } from '../../errors.js';
import { assertCiphertextLength, BLOCK_SIZE, paddingLength } from '../../format/opentok.js';
import type { ArchiveChecks } from './checks.js';
import { writeReleasing, type OutputSink } from '../../storage/output-sink.js';
import type { CiphertextReader } from '../reader.js';

const READ_SIZE = 1024 * 1024;

export interface PipelineInput {
  reader: CiphertextReader;
  archiveKey: { key: Uint8Array; iv: Uint8Array };
  backend: CryptoBackend;
  checks: ArchiveChecks;
  sink: OutputSink;
  padding: 'pkcs7' | 'none';
  signal?: AbortSignal | undefined;
  onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
  total: number | undefined;
}

/** Decrypts everything `reader` yields into the sink, feeding the checks. Throws on the first failure. */
export async function decryptSerial(input: PipelineInput): Promise<void> {
  const { reader, checks, sink, signal, padding } = input;
  const cipher = input.backend.cipher('cbc-decrypt', input.archiveKey.key, input.archiveKey.iv);
  if (input.backend.name === 'node' && (input.total ?? 0) >= KEEP_MALLOC_HEAP_FROM) keepMallocHeap();
  // Each buffer: room for the block held back from the read before (16 bytes), then the read itself.
  let current = Buffer.allocUnsafeSlow(BLOCK_SIZE + READ_SIZE);
  let spare = Buffer.allocUnsafeSlow(BLOCK_SIZE + READ_SIZE);
  const heldBlock = Buffer.alloc(BLOCK_SIZE);
  let held = 0;
  let ciphertextBytes = 0;
  let next = reader.fill(current.subarray(BLOCK_SIZE));
  // A read ahead that fails while this thread still writes must not be an unhandled rejection (it
  // would end the process with a stack trace): it surfaces when awaited.
  next.catch(() => undefined);
  try {
    for (;;) {
      const n = await next;
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      const buffer = current;
      [current, spare] = [spare, current];
      // Read ahead into the other buffer while this one is decrypted (its output was released).
      next = n === READ_SIZE ? reader.fill(current.subarray(BLOCK_SIZE)) : Promise.resolve(0);
      next.catch(() => undefined);
      checks.ciphertext(buffer.subarray(BLOCK_SIZE, BLOCK_SIZE + n));
      ciphertextBytes += n;
      // A short read ends the data: a length that is not whole blocks fails before any decryption.
      if (n < READ_SIZE) checkedLength(ciphertextBytes, padding, checks);
      if (n > 0) {
        cipher.update(buffer, BLOCK_SIZE, n);
        heldBlock.copy(buffer, 0);
        const released = buffer.subarray(BLOCK_SIZE - held, n);
        if (released.byteLength > 0) {
          checks.plaintext(released);
          await writeReleasing(sink, released);
        }
        buffer.copy(heldBlock, 0, n, n + BLOCK_SIZE);
        held = BLOCK_SIZE;
      }
      input.onProgress?.(ciphertextBytes, input.total);
      if (n < READ_SIZE) break;
    }
    const last = heldBlock.subarray(0, held - removedPadding(heldBlock.subarray(0, held), padding, checks));
    if (last.byteLength > 0) {
      checks.plaintext(last);
      await sink.write(Buffer.from(last));
    }
  } catch (error) {
    next.catch(() => undefined);
    throw error;
  } finally {
    heldBlock.fill(0);
    cipher.free();
  }
}

/** The length check at the end of the data, recorded in the report when it fails. */
export function checkedLength(ciphertextBytes: number, padding: 'pkcs7' | 'none', checks: ArchiveChecks): void {
  try {
    assertCiphertextLength(ciphertextBytes, padding);
  } catch (error) {
    checks.recordFinal('length');
    throw error;
  }
}

/** Checks the PKCS#7 padding of the last plaintext block (none: kept, like `openssl -nopad`); returns its length. */
export function removedPadding(lastBlock: Uint8Array, padding: 'pkcs7' | 'none', checks: ArchiveChecks): number {
  try {
    const n = padding === 'pkcs7' ? paddingLength(lastBlock) : 0;
    checks.recordFinal();
    return n;
  } catch (error) {
    checks.recordFinal('padding');
    throw error;
  }
}
