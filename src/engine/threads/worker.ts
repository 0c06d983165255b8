/**
 * Runs inside a pool thread (piscina loads this file): decrypts one CBC range of the shared ring in
 * place, or verifies and decrypts (`unseal`) or seals (`seal`) a run of sealed-format segments. Each range is independent — its IV is the ciphertext block before it (design.md §1) — so
 * ranges of one archive can run on any thread in any order; the main thread writes them in order.
 */
import { firstBadSyncByte } from '../../format/mpegts.js';
import { createDecipheriv, createHash, type Hash } from 'node:crypto';
import type { DecryptRangeResult, DigestTask, SealRunTask, UnsealBatchResult, UnsealBatchTask, WorkerTask } from './messages.js';
import { openSealedBatch, readKeyState, sealRun } from '../sealed/sealed-batch.js';
import { UPDATE_SLICE } from '../update-slice.js';


/** Plaintext hashes in progress, by session; the last 16 bytes wait in `tail` (they may be padding). */
const sessions = new Map<number, { hash: Hash; tail: Buffer; tailLength: number }>();

export default function run(task: WorkerTask): DecryptRangeResult | UnsealBatchResult | number | Uint8Array | 'ready' {
  if (task.kind === 'ping') return 'ready';
  if (task.kind === 'digest') return digest(task);
  if (task.kind === 'unseal') return unseal(task);
  if (task.kind === 'seal') return seal(task);
  const session = task.hashSession >= 0 ? openSession(task.hashSession) : undefined;
  const data = Buffer.from(task.data, task.offset, task.length);
  const decipher = createDecipheriv('aes-256-cbc', new Uint8Array(task.state, 0, 32), new Uint8Array(task.state, task.ivOffset, 16));
  decipher.setAutoPadding(false);
  let firstBadSync = -1;
  for (let at = 0; at < task.length; at += UPDATE_SLICE) {
    const plaintext = decipher.update(data.subarray(at, Math.min(at + UPDATE_SLICE, task.length)));
    // Checked here, while the bytes are hot in this core's cache; the main thread merges the results.
    if (task.syncCheckOffset >= 0 && firstBadSync < 0) firstBadSync = firstBadSyncByte(plaintext, task.syncCheckOffset + at);
    if (session) {
      session.hash.update(session.tail.subarray(0, session.tailLength));
      session.hash.update(plaintext.subarray(0, plaintext.length - 16));
      plaintext.copy(session.tail, 0, plaintext.length - 16);
      session.tailLength = 16;
    }
    // Slice i's plaintext replaces slice i's ciphertext, which has been consumed by then.
    plaintext.copy(data, at);
  }
  decipher.final();
  return { plaintextBytes: task.length, firstBadSync };
}

/** Sealed segments (docs/FORMAT.md): verified, then decrypted in place; see sealed-batch.ts. */
function unseal(task: UnsealBatchTask): UnsealBatchResult {
  const keys = readKeyState(new Uint8Array(task.state));
  return openSealedBatch(keys, Buffer.from(task.data, task.offset, task.length), task.firstIndex, task.segmentSize, task.final);
}

/** Plaintext sealed in place; answers the sealed bytes written. */
function seal(task: SealRunTask): number {
  const keys = readKeyState(new Uint8Array(task.state));
  const data = Buffer.from(task.data, task.offset, task.plaintextOffset + task.length);
  return sealRun(keys, data, task.plaintextOffset, task.length, task.firstIndex, task.segmentSize, task.final);
}

function openSession(id: number): { hash: Hash; tail: Buffer; tailLength: number } {
  let session = sessions.get(id);
  if (!session) {
    session = { hash: createHash('sha256'), tail: Buffer.alloc(16), tailLength: 0 };
    sessions.set(id, session);
  }
  return session;
}

function digest(task: DigestTask): Uint8Array {
  const session = openSession(task.hashSession);
  sessions.delete(task.hashSession);
  if (task.tailBytes < 0) return new Uint8Array(0);
  session.hash.update(session.tail.subarray(0, task.tailBytes));
  return session.hash.digest();
}
