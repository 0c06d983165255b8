/**
 * One retry policy for every remote adapter. The SDKs' own retries are switched off so that S3,
 * Azure and plain https behave the same way: transient failures (resets, timeouts, 5xx, throttling)
 * are retried with exponential backoff and jitter; not-found and access-denied never are.
 */
import { AbortError, StorageError, UsageError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts after the first one that may fail without any progress before giving up. */
  retries: number;
  /** First backoff delay; doubles on every further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A request or body that delivers nothing for this long counts as a transient failure. */
  idleTimeoutMs: number;
  /**
   * Stall policy: a download that receives less than `minBytesPerSecond` on average over this much
   * time spent waiting on the network fails for good (exit 5); 0 turns it off. It catches servers
   * that drip bytes just often enough never to trigger the idle timeout.
   */
  stallWindowMs: number;
  minBytesPerSecond: number;
}

export const defaultRetryPolicy: Readonly<RetryPolicy> = {
  retries: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  idleTimeoutMs: 30_000,
  stallWindowMs: 60_000,
  // 4 KiB/s: far below any usable link, far above a drip (a 1 GiB archive would take 3 days).
  minBytesPerSecond: 4096,
};

/** Fills a partial policy with defaults and checks it (an option error names the option). */
export function resolveRetryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...defaultRetryPolicy, ...partial };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isInteger(value) || value < 0) throw new UsageError(`retry.${name} must be a non-negative integer`);
  }
  return policy;
}

/** How an adapter judges an error: retry it, or fail with this StorageError. */
export type Failure = { transient: true; error: StorageError } | { transient: false; error: Error };

/** Maps an SDK/network error of one object or store to a Failure (errors it does not know stay as they are, permanent). */
export type Classifier = (error: unknown) => Failure;

// Socket-level failures worth another attempt. ENOTFOUND is not here: a misspelt host stays misspelt.
const transientNetworkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The errno-style code of an error or of any error in its `cause` chain. */
export function networkErrorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (transientNetworkCodes.has(code) || code === 'ENOTFOUND')) return code;
    if (e.message === 'aborted' || e.message === 'terminated') return 'ECONNRESET';
  }
  return undefined;
}

/**
 * The network part of every classifier: resets and timeouts are transient; an unknown host or a
 * refused connection after all retries reads as "cannot reach".
 */
export function classifyNetworkError(error: unknown, name: string, endpointHint: string): Failure | undefined {
  if (error instanceof IdleTimeout) {
    return { transient: true, error: new StorageError(`${name}: no data for ${error.ms} ms; check the network`, { cause: error }) };
  }
  const code = networkErrorCode(error);
  if (code === undefined) return undefined;
  const unreachable = code === 'ENOTFOUND' || code === 'ECONNREFUSED' || code === 'EAI_AGAIN' || code.endsWith('UNREACH');
  const message = unreachable
    ? `${name}: cannot reach the storage endpoint (${code}); check ${endpointHint} and the network`
    : `${name}: connection failed (${code}); check the network`;
  return { transient: code !== 'ENOTFOUND', error: new StorageError(message, { cause: error }) };
}

/** Raised internally when a request or body stalls longer than `idleTimeoutMs`. */
export class IdleTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no data for ${ms} ms`);
  }
}

/** Backoff before retry number `attempt` (1-based): exponential with "equal jitter". */
export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Throws the library's AbortError when the caller cancelled. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('download cancelled', { cause: signal.reason });
}

/**
 * Waits `ms`, or rejects with AbortError as soon as the signal fires. The listener goes on a signal
 * of the sleeper's own that follows the caller's (`AbortSignal.any` adds no listener to its
 * sources): many parts retrying at once on one shared signal would otherwise add a listener each,
 * and Node warns on stderr (MaxListenersExceededWarning) from the eleventh on.
 */
export function sleep(ms: number, callerSignal?: AbortSignal): Promise<void> {
  throwIfAborted(callerSignal);
  const signal = callerSignal ? AbortSignal.any([callerSignal]) : undefined;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError('download cancelled', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs one request (stat, a listing page) under the policy: transient failures are retried after a
 * backoff, the last one is rethrown with "after N attempts"; permanent failures throw at once.
 * The request gets a signal that also fires when it stalls for `idleTimeoutMs`.
 */
export async function withRetries<T>(
  request: (signal: AbortSignal) => Promise<T>,
  classify: Classifier,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await withIdleTimeout(request, policy.idleTimeoutMs, signal);
    } catch (error) {
      throwIfAborted(signal);
      const failure = classify(error);
      if (!failure.transient) throw failure.error;
      if (attempt >= policy.retries) throw exhausted(failure.error, attempt + 1);
      await sleep(backoffDelay(attempt + 1, policy), signal);
    }
  }
}

/** Wraps the last transient failure into the "retries exhausted" error. */
export function exhausted(last: StorageError, attempts: number): StorageError {
  return new StorageError(`${last.message} (gave up after ${attempts} attempts)`, { code: last.code, cause: last.cause });
}

/** Runs `request` with a signal that aborts when the caller aborts or after `ms` without an answer. */
async function withIdleTimeout<T>(request: (signal: AbortSignal) => Promise<T>, ms: number, outer?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new IdleTimeout(ms);
      controller.abort(error);
      reject(error);
    }, ms);
  });
  try {
    return await Promise.race([request(signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
