/**
 * What the S3, Azure and https adapters have in common: `stat()` cached once per object (pinning the
 * ETag), `read()` clipped to the object's size and run through the shared resume loop, and the check
 * of every ranged answer. Each adapter supplies only how to ask (`fetchInfo`, `requestRange`) and how
 * to judge its errors (`classify`).
 *
 * Why the answer is checked here and not trusted to the SDK: a store (or a proxy in front of it) that
 * ignores `Range` answers 200 with the whole object, and one that serves another range or another
 * version answers 206 with a different `Content-Range`. Taking those bytes as the asked range would
 * splice the wrong data into the output; with a multipart ETag there is no MD5 to catch it later
 * (docs/RELIABILITY.md, "range ignored").
 */
import { StorageError } from '../errors.js';
import { objectChanged } from './failure.js';
import { resumableRead } from './resumable.js';
import { withRetries, type Failure, type RetryPolicy } from './retry.js';
import type { DownloadOptions } from './parallel.js';
import type { Source, SourceInfo } from './source.js';

/** One answer to a ranged GET, as the adapter's SDK reports it. */
export interface RangeAnswer {
  /** HTTP status (206 expected; 200 means the store ignored Range). */
  status: number | undefined;
  /** The `Content-Range` header, e.g. `bytes 0-1023/4096`. */
  contentRange: string | undefined;
  etag: string | undefined;
  body: AsyncIterable<Uint8Array> | undefined;
  /** Releases the connection of an answer we refuse. */
  discard(): Promise<void>;
}

export abstract class RemoteSource implements Source {
  readonly rangeable = true;
  abstract readonly name: string;
  /** Set by `openSource` and the stores from `SourceOptions.download`. */
  download: DownloadOptions | undefined;
  private info: Promise<SourceInfo> | undefined;

  constructor(protected readonly policy: RetryPolicy) {}

  /** HEAD (or its equivalent): size, ETag, checksums. Called once; errors go through `classify`. */
  protected abstract fetchInfo(signal: AbortSignal): Promise<SourceInfo>;
  /** Starts a GET of `[from, to)` pinned to `info.etag` (If-Match where the store supports it). */
  protected abstract requestRange(from: number, to: number, info: SourceInfo, signal: AbortSignal): Promise<RangeAnswer>;
  protected abstract classify(error: unknown): Failure;

  stat(signal?: AbortSignal): Promise<SourceInfo> {
    this.info ??= withRetries((attemptSignal) => this.fetchInfo(attemptSignal), (error) => this.classify(error), this.policy, signal);
    // A failed stat may be retried by a later call (e.g. after the network came back).
    this.info.catch(() => (this.info = undefined));
    return this.info;
  }

  async *read(start = 0, end?: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const info = await this.stat(signal);
    const stop = Math.min(end ?? Infinity, info.size ?? 0);
    if (stop <= start) return;
    yield* resumableRead(
      {
        name: this.name,
        classify: (error) => this.classify(error),
        openRange: async (from, to, attemptSignal) => checkedBody(this.name, from, info, await this.requestRange(from, to, info, attemptSignal)),
      },
      start,
      stop,
      this.policy,
      signal,
    );
  }
}

/**
 * The body of `answer` if it really holds the object's bytes from `from` on, pinned to `info.etag`;
 * otherwise a StorageError (exit 5), never other bytes. A 200 is accepted only for a read from byte
 * 0 (the whole object is then the asked range plus a tail the resume loop cuts off).
 */
export async function checkedBody(name: string, from: number, info: SourceInfo, answer: RangeAnswer): Promise<AsyncIterable<Uint8Array>> {
  const refuse = async (error: StorageError) => {
    await answer.discard().catch(() => undefined);
    throw error;
  };
  if (info.etag && answer.etag && answer.etag !== info.etag) return refuse(objectChanged(name));
  if (answer.status === 200) {
    if (from !== 0) {
      return refuse(new StorageError(`${name}: the store ignored the Range header (HTTP 200 for bytes ${from}-); it cannot be read safely`));
    }
  } else if (answer.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(answer.contentRange?.trim() ?? '');
    if (!range) return refuse(new StorageError(`${name}: the store answered a ranged read without a valid Content-Range`));
    const total = range[3] === '*' ? undefined : Number(range[3]);
    if (total !== undefined && info.size !== undefined && total !== info.size) return refuse(objectChanged(name));
    if (Number(range[1]) !== from) {
      return refuse(new StorageError(`${name}: the store answered bytes ${range[1]}-${range[2]} for a read from byte ${from}`));
    }
  } else {
    return refuse(new StorageError(`${name}: unexpected answer to a ranged read (HTTP ${answer.status ?? 'without status'})`));
  }
  if (!answer.body) return refuse(new StorageError(`${name}: the store sent no body`));
  return answer.body;
}
