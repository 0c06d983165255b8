/**
 * The download loop shared by the S3, Azure and https adapters: read `[start, end)` in order and,
 * when a connection drops, goes silent or answers 5xx, wait and ask again from the first byte not yet
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
    const watch = new TransferWatch(policy, attempt);
    const progressBefore = position;
    let iterator: AsyncIterator<Uint8Array> | undefined;
    try {
      const body = await watch.wait(opener.openRange(position, end, attemptSignal));
      iterator = body[Symbol.asyncIterator]();
      for (;;) {
        const next = await watch.wait(iterator.next());
        // Checked per chunk as well, so cancellation is prompt even where a body ignores the signal.
        throwIfAborted(signal);
        if (next.done) break;
        let chunk = next.value;
        if (chunk.byteLength === 0) continue;
        if (position + chunk.byteLength > end) chunk = chunk.subarray(0, end - position);
        position += chunk.byteLength;
        watch.received(chunk.byteLength);
        failuresWithoutProgress = 0;
        yield chunk;
        if (position >= end) break;
      }
      if (position < end) {
        throw new ConnectionEndedEarly(`${opener.name}: the connection ended ${end - position} bytes early`);
      }
    } catch (caught) {
      throwIfAborted(signal);
      // When the watch gave up, the SDK's own "aborted" error may arrive first: ours is the reason.
      const error = watch.reason ?? caught;
      if (error instanceof TransferStalled) {
        throw new StorageError(
          `${opener.name}: the transfer stalled (${error.bytes} bytes in ${Math.round(error.windowMs / 1000)} s, below ${policy.minBytesPerSecond} B/s); check the network or raise --stall-timeout`,
        );
      }
      const failure = error instanceof ConnectionEndedEarly ? { transient: true as const, error: new StorageError(error.message) } : opener.classify(error);
      if (!failure.transient) throw failure.error;
      if (position === progressBefore) failuresWithoutProgress += 1;
      if (failuresWithoutProgress > policy.retries) throw exhausted(failure.error, failuresWithoutProgress);
      await sleep(backoffDelay(Math.max(1, failuresWithoutProgress), policy), signal);
    } finally {
      watch.stop();
      attempt.abort();
      // Releases the socket of a body we stop reading early (consumer break, server sent too much).
      await iterator?.return?.().catch(() => undefined);
    }
  }
}

class ConnectionEndedEarly extends Error {}

/** The stall policy gave up on a connection that delivers, but too slowly to ever finish. */
class TransferStalled extends Error {
  constructor(
    readonly bytes: number,
    readonly windowMs: number,
  ) {
    super(`${bytes} bytes in ${windowMs} ms`);
  }
}

/**
 * Watches one attempt with a single timer: it fails the attempt when one wait on the network lasts
 * `idleTimeoutMs` (a silent connection: transient, retried), or when the bytes received over a window
 * of `stallWindowMs` spent waiting fall below `minBytesPerSecond` (a drip that never times out:
 * permanent). Only time spent waiting on the network counts, never time the consumer holds a chunk
 * (a slow player on stdout is not a stalled store).
 */
class TransferWatch {
  /** Why the attempt was failed, once it was. */
  reason: IdleTimeout | TransferStalled | undefined;
  private readonly failed: Promise<never>;
  private rejectFailed: (error: Error) => void = () => undefined;
  private readonly timer: NodeJS.Timeout;
  private waitingSince: number | undefined;
  private waitedInWindow = 0;
  private bytesInWindow = 0;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly attempt: AbortController,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined);
    const shortest = Math.min(policy.idleTimeoutMs, policy.stallWindowMs > 0 ? policy.stallWindowMs : Infinity);
    this.timer = setInterval(() => this.check(), Math.max(10, Math.min(1000, shortest / 4)));
  }

  /** Awaits `promise`, or rejects as soon as the policy gives up on this attempt. */
  async wait<T>(promise: Promise<T>): Promise<T> {
    // The losing promise may still reject later (aborted socket); that rejection is expected.
    promise.catch(() => undefined);
    this.waitingSince = performance.now();
    try {
      return await Promise.race([promise, this.failed]);
    } finally {
      this.waitedInWindow += performance.now() - this.waitingSince;
      this.waitingSince = undefined;
    }
  }

  received(bytes: number): void {
    this.bytesInWindow += bytes;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const now = performance.now();
    if (this.waitingSince !== undefined && now - this.waitingSince >= this.policy.idleTimeoutMs) {
      return this.fail(new IdleTimeout(this.policy.idleTimeoutMs));
    }
    const window = this.policy.stallWindowMs;
    if (window === 0 || this.waitedInWindow + (this.waitingSince !== undefined ? now - this.waitingSince : 0) < window) return;
    if (this.bytesInWindow < (this.policy.minBytesPerSecond * window) / 1000) return this.fail(new TransferStalled(this.bytesInWindow, window));
    this.waitedInWindow = 0;
    this.bytesInWindow = 0;
    if (this.waitingSince !== undefined) this.waitingSince = now;
  }

  private fail(reason: IdleTimeout | TransferStalled): void {
    this.reason = reason;
    this.stop();
    this.attempt.abort(reason);
    this.rejectFailed(reason);
  }
}
