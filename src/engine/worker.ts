/**
 * Runs inside a pool thread (piscina loads this file): decrypts one CBC range of the shared ring in
 * place. Each range is independent — its IV is the ciphertext block before it (design.md §1) — so
 * ranges of one archive can run on any thread in any order; the main thread writes them in order.
 */
import { createDecipheriv } from 'node:crypto';
import type { DecryptRangeResult, WorkerTask } from './messages.js';
import { firstBadSyncByte } from './sync-check.js';

/** `decipher.update` allocates its output; small slices stay fast (design.md §7). */
const SLICE = 64 * 1024;

export default function run(task: WorkerTask): DecryptRangeResult | 'ready' {
  if (task.kind === 'ping') return 'ready';
  const data = Buffer.from(task.data, task.offset, task.length);
  const decipher = createDecipheriv('aes-256-cbc', new Uint8Array(task.state, 0, 32), new Uint8Array(task.state, task.ivOffset, 16));
  decipher.setAutoPadding(false);
  let firstBadSync = -1;
  for (let at = 0; at < task.length; at += SLICE) {
    const plaintext = decipher.update(data.subarray(at, Math.min(at + SLICE, task.length)));
    // Checked here, while the bytes are hot in this core's cache; the main thread merges the results.
    if (task.syncCheckOffset >= 0 && firstBadSync < 0) firstBadSync = firstBadSyncByte(plaintext, task.syncCheckOffset + at);
    // Slice i's plaintext replaces slice i's ciphertext, which has been consumed by then.
    plaintext.copy(data, at);
  }
  decipher.final();
  return { plaintextBytes: task.length, firstBadSync };
}
