/**
 * Runs inside a pool thread (piscina loads this file; pool.ts calls its named exports by name, the
 * tasks and answers are typed in messages.ts): `decryptRange` decrypts one CBC range of the shared
 * ring in place, `unsealRun` verifies and decrypts and `sealRun` seals a run of sealed-format
 * segments. Each range is independent — its IV is the ciphertext block before it
 * (docs/ARCHITECTURE.md §2.5) — so ranges of one archive can run on any thread in any order; the
 * main thread writes them in order.
 */
import { firstBadSyncByte } from '../../format/mpegts.js';
import { createHash, type Hash } from 'node:crypto';
import type { DecryptRangeResult, DecryptRangeTask, DigestTask, SealRunResult, SealRunTask, UnsealBatchResult, UnsealBatchTask } from './messages.js';
import { readAt } from './run-read.js';
import { contextsFromState, freeContexts } from '../sealed/key-state.js';
import { openSegmentRun, sealSegmentRun, type SegmentContexts } from '../../format/sealed-runs.js';
import { cryptoBackend } from '../../crypto-backend.js';
import { readRangeAt } from '../archive/range-read.js';

/** Bytes decrypted before they are checked and hashed: small enough to stay in this core's cache. */
const CHECK_SLICE = 256 * 1024;

/** Plaintext hashes in progress, by session; the last 16 bytes wait in `tail` (they may be padding). */
const sessions = new Map<number, { hash: Hash; tail: Buffer; tailLength: number }>();

/** Answered as soon as the thread runs: tells the main thread that this thread has booted. */
export function ping(): 'ready' {
  return 'ready';
}

/** A CBC range of the ring decrypted in place (read by position first when asked), checked and hashed while hot. */
export function decryptRange(task: DecryptRangeTask): DecryptRangeResult {
  const session = task.hashSession >= 0 ? openSession(task.hashSession) : undefined;
  const data = new Uint8Array(task.data, task.offset, task.length);
  if (task.read) readRangeAt(task.read, data, new Uint8Array(task.state, task.ivOffset, 16));
  const cipher = cryptoBackend(task.backend).cipher('cbc-decrypt', new Uint8Array(task.state, 0, 32), new Uint8Array(task.state, task.ivOffset, 16));
  let firstBadSync = -1;
  try {
    for (let at = 0; at < task.length; at += CHECK_SLICE) {
      const length = Math.min(CHECK_SLICE, task.length - at);
      cipher.update(data, at, length);
      const plaintext = data.subarray(at, at + length);
      // Checked here, while the bytes are hot in this core's cache; the main thread merges the results.
      if (task.syncCheckOffset >= 0 && firstBadSync < 0) firstBadSync = firstBadSyncByte(plaintext, task.syncCheckOffset + at);
      if (session) {
        session.hash.update(session.tail.subarray(0, session.tailLength));
        session.hash.update(plaintext.subarray(0, length - 16));
        session.tail.set(plaintext.subarray(length - 16));
        session.tailLength = 16;
      }
    }
  } finally {
    cipher.free();
  }
  return { plaintextBytes: task.length, firstBadSync };
}

/**
 * Each thread keys its contexts once per file (the state buffer identifies the file) and frees and
 * cleanses them when a task of another file arrives (a private pool's threads end with the file).
 */
let current: { state: SharedArrayBuffer; contexts: SegmentContexts } | undefined;

function contextsFor(task: UnsealBatchTask | SealRunTask): SegmentContexts {
  if (current?.state !== task.state) {
    if (current) freeContexts(current.contexts);
    current = { state: task.state, contexts: contextsFromState(new Uint8Array(task.state), task.backend) };
  }
  return current.contexts;
}

/** Sealed segments (docs/FORMAT.md): read by position when asked, verified, then decrypted in place (format/sealed-runs.ts). */
export function unsealRun(task: UnsealBatchTask): UnsealBatchResult {
  const data = new Uint8Array(task.data, task.offset, task.length);
  const bytesRead = task.read ? readAt(task.read.fd, data, task.read.position) : undefined;
  if (bytesRead !== undefined && bytesRead < task.length) return { plaintextBytes: 0, segments: 0, failedIndex: -1, failure: undefined, failedLast: false, bytesRead };
  return { ...openSegmentRun(contextsFor(task), data, task.firstIndex, task.segmentSize, task.final), bytesRead };
}

/** Plaintext (read by position when asked) sealed in place; answers the sealed bytes written. */
export function sealRun(task: SealRunTask): SealRunResult {
  const data = new Uint8Array(task.data, task.offset, task.plaintextOffset + task.length);
  const bytesRead = task.read ? readAt(task.read.fd, data.subarray(task.plaintextOffset), task.read.position) : undefined;
  if (bytesRead !== undefined && bytesRead < task.length) return { sealedBytes: 0, bytesRead };
  return { sealedBytes: sealSegmentRun(contextsFor(task), data, task.plaintextOffset, task.length, task.firstIndex, task.segmentSize, task.final), bytesRead };
}

function openSession(id: number): { hash: Hash; tail: Buffer; tailLength: number } {
  let session = sessions.get(id);
  if (!session) {
    session = { hash: createHash('sha256'), tail: Buffer.alloc(16), tailLength: 0 };
    sessions.set(id, session);
  }
  return session;
}

/** Ends a hash session: its SHA-256, or nothing when `tailBytes` is -1 (the session is dropped). */
export function digest(task: DigestTask): Uint8Array {
  const session = openSession(task.hashSession);
  sessions.delete(task.hashSession);
  if (task.tailBytes < 0) return new Uint8Array(0);
  session.hash.update(session.tail.subarray(0, task.tailBytes));
  return session.hash.digest();
}
