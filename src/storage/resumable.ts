/**
 * The download loop shared by the S3, Azure and https adapters: read `[start, end)` in order and,
 * when a connection drops, stalls or answers 5xx, wait and ask again from the first byte not yet
 * received. Pinning to the object's ETag is the adapter's job (its `openRange` sends If-Match and
 * checks the answer), so a replaced object fails instead of splicing two versions together.
 */
import { StorageError } from '../errors.js';
import { backoffDelay, exhausted, IdleTimeout, sleep, throwIfAborted, type Classifier, type RetryPolicy } from './retry.js';

/** What an adapter provides to the loop. */
export interface RangeOpener {
  /** Starts a GET of `[start, end)` (end exclusive, `end > start`); must honour the signal. */
  openRange(start: number, end: number, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  classify: Classifier;
  /** For "ended early" messages. */
  readonly name: string;
}

/**
 * Yields exactly the bytes `[start, end)`. A server that sends more than asked is cut off at `end`;
 * one that ends early is asked again for the rest. Failures without progress count against
 * `policy.retries`; any progress resets the count, so a long download survives many short outages.
 */
export async function* resumableRead(
  opener: RangeOpener,
  start: number,
  end: number,
  policy: RetryPolicy,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array, void, undefined> {
  let position = start;
  let failuresWithoutProgress = 0;
  while (position < end) {
    throwIfAborted(signal);
    const attempt = new AbortController();
    const attemptSignal = signal ? AbortSignal.any([signal, attempt.signal]) : attempt.signal;
    const progressBefore = position;
    let iterator: AsyncIterator<Uint8Array> | undefined;
    try {
      const body = await raceIdle(opener.openRange(position, end, attemptSignal), policy.idleTimeoutMs, attempt);
      iterator = body[Symbol.asyncIterator]();
      for (;;) {
        const next = await raceIdle(iterator.next(), policy.idleTimeoutMs, attempt);
        // Checked per chunk as well, so cancellation is prompt even where a body ignores the signal.
        throwIfAborted(signal);
        if (next.done) break;
        let chunk = next.value;
        if (chunk.byteLength === 0) continue;
        if (position + chunk.byteLength > end) chunk = chunk.subarray(0, end - position);
        position += chunk.byteLength;
        failuresWithoutProgress = 0;
        yield chunk;
        if (position >= end) break;
      }
      if (position < end) {
        throw new ConnectionEndedEarly(`${opener.name}: the connection ended ${end - position} bytes early`);
      }
    } catch (error) {
      throwIfAborted(signal);
      const failure = error instanceof ConnectionEndedEarly ? { transient: true as const, error: new StorageError(error.message) } : opener.classify(error);
      if (!failure.transient) throw failure.error;
      if (position === progressBefore) failuresWithoutProgress += 1;
      if (failuresWithoutProgress > policy.retries) throw exhausted(failure.error, failuresWithoutProgress);
      await sleep(backoffDelay(Math.max(1, failuresWithoutProgress), policy), signal);
    } finally {
      attempt.abort();
      // Releases the socket of a body we stop reading early (consumer break, server sent too much).
      await iterator?.return?.().catch(() => undefined);
    }
  }
}

class ConnectionEndedEarly extends Error {}

/**
 * Awaits `promise` unless nothing happens for `ms`: then the attempt is aborted and an IdleTimeout
 * thrown. The timer runs only while we wait on the network, never while the consumer holds a chunk.
 */
async function raceIdle<T>(promise: Promise<T>, ms: number, attempt: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new IdleTimeout(ms);
      attempt.abort(error);
      reject(error);
    }, ms);
  });
  // The losing promise may still reject later (aborted socket); that rejection is expected.
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
