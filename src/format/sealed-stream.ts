/**
 * Serial streaming over the sealed format: a sealer and an unsealer that take chunks of any size and
 * return whole segments, each with an explicit final step. The unsealer releases a segment's plaintext
 * only after its tag verified, and its final step is where truncation (no final segment) is caught.
 * Buffer and async-iterable wrappers sit on top. Pure: no I/O, no RSA (recipients are resolved by the
 * caller through `fileKey`).
 */
import { UsageError } from '../errors.js';
import {
  TAG_LENGTH,
  openHeader,
  openSegment,
  segmentError,
  parseHeader,
  sealHeader,
  truncatedHeaderError,
  MIN_HEADER_LENGTH,
  sealSegment,
  type HeaderFields,
  type SealedHeader,
  type SegmentKeys,
} from './sealed.js';

export interface SealerOptions extends HeaderFields {
  /** The 32-byte random file key, already wrapped into `recipients`. Only used to derive keys, not kept. */
  fileKey: Uint8Array;
}

/**
 * Seals a stream: `header` first, then whatever `push` and `finish` return, in order.
 *
 * @example
 * ```ts
 * const sealer = createSealer({ fileKey, salt: randomBytes(32), recipients });
 * out.write(sealer.header);
 * for await (const chunk of input) for (const s of sealer.push(chunk)) out.write(s);
 * for (const s of sealer.finish()) out.write(s);
 * ```
 */
export interface Sealer {
  readonly header: Buffer;
  readonly keys: SegmentKeys;
  /** Takes plaintext; returns the sealed segments completed by it (possibly none). */
  push(chunk: Uint8Array): Buffer[];
  /** Seals the final, shorter (possibly empty) segment. Nothing may be pushed after. */
  finish(): Buffer[];
}

export function createSealer(options: SealerOptions): Sealer {
  const { bytes, keys } = sealHeader(options, options.fileKey);
  const segment = Buffer.alloc(keys.segmentSize);
  let filled = 0;
  let index = 0;
  let finished = false;

  return {
    header: bytes,
    keys,
    push(chunk) {
      if (finished) throw new UsageError('sealer already finished');
      const out: Buffer[] = [];
      let offset = 0;
      while (offset < chunk.length) {
        // A full segment is never the last one (the last is always shorter), so it can go out at once.
        if (filled === 0 && chunk.length - offset >= keys.segmentSize) {
          out.push(sealSegment(keys, index++, false, chunk.subarray(offset, offset + keys.segmentSize)));
          offset += keys.segmentSize;
          continue;
        }
        const take = Math.min(keys.segmentSize - filled, chunk.length - offset);
        segment.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === keys.segmentSize) {
          out.push(sealSegment(keys, index++, false, segment));
          filled = 0;
        }
      }
      return out;
    },
    finish() {
      if (finished) throw new UsageError('sealer already finished');
      finished = true;
      const last = sealSegment(keys, index, true, segment.subarray(0, filled));
      segment.fill(0);
      return [last];
    },
  };
}

export interface UnsealerOptions {
  /**
   * The file key, or a function that finds it from the parsed (not yet verified) header, for example
   * by unwrapping a recipient stanza with a private key. It should throw KeyError when no key fits.
   */
  fileKey: Uint8Array | ((header: SealedHeader) => Uint8Array);
}

/**
 * Unseals a stream. `push` returns plaintext of segments whose tag verified; `finish` throws if the
 * final segment never came. After any error the unsealer is spent.
 */
export interface Unsealer {
  /** The parsed header once it is complete and verified, else undefined. */
  readonly header: SealedHeader | undefined;
  push(chunk: Uint8Array): Buffer[];
  finish(): Buffer[];
}

export function createUnsealer(options: UnsealerOptions): Unsealer {
  let header: SealedHeader | undefined;
  let keys: SegmentKeys | undefined;
  let headerBytes = Buffer.alloc(0);
  let headerNeeded = MIN_HEADER_LENGTH;
  let segment = Buffer.alloc(0);
  let filled = 0;
  let index = 0;
  let state: 'header' | 'body' | 'done' | 'failed' = 'header';

  /**
   * Feeds header bytes (never more than the header can be known to hold, so no body byte is taken);
   * returns how many of `chunk` were consumed. What is there is parsed at once: a file that is not a
   * sealed one fails on its first chunk, however short.
   */
  function pushHeader(chunk: Uint8Array): number {
    const take = Math.min(headerNeeded - headerBytes.length, chunk.length);
    headerBytes = Buffer.concat([headerBytes, chunk.subarray(0, take)]);
    const parsed = parseHeader(headerBytes);
    if (!parsed.complete) {
      headerNeeded = Math.max(parsed.needed, MIN_HEADER_LENGTH);
      return take;
    }
    const fileKey = typeof options.fileKey === 'function' ? options.fileKey(parsed.header) : options.fileKey;
    keys = openHeader(parsed.header, fileKey);
    header = parsed.header;
    segment = Buffer.alloc(keys.segmentSize + TAG_LENGTH);
    state = 'body';
    return take;
  }

  function pushBody(activeKeys: SegmentKeys, chunk: Uint8Array, out: Buffer[]): number {
    const full = activeKeys.segmentSize + TAG_LENGTH;
    // Well-formed files end with a segment shorter than `full`, so `full` bytes are never the final segment.
    if (filled === 0 && chunk.length >= full) {
      out.push(openSegment(activeKeys, index++, false, chunk.subarray(0, full)));
      return full;
    }
    const take = Math.min(full - filled, chunk.length);
    segment.set(chunk.subarray(0, take), filled);
    filled += take;
    if (filled === full) {
      out.push(openSegment(activeKeys, index++, false, segment));
      filled = 0;
    }
    return take;
  }

  function guarded<T>(step: () => T): T {
    if (state === 'done' || state === 'failed') throw new UsageError('unsealer already finished');
    try {
      return step();
    } catch (error) {
      state = 'failed';
      segment.fill(0);
      throw error;
    }
  }

  return {
    get header() {
      return state === 'header' ? undefined : header;
    },
    push(chunk) {
      return guarded(() => {
        const out: Buffer[] = [];
        let offset = 0;
        while (offset < chunk.length) {
          const rest = chunk.subarray(offset);
          offset += keys === undefined ? pushHeader(rest) : pushBody(keys, rest, out);
        }
        return out;
      });
    },
    finish() {
      return guarded(() => {
        if (keys === undefined) throw truncatedHeaderError(headerBytes);
        if (filled === 0) throw segmentError('missing-final', index, true);
        const last = openSegment(keys, index, true, segment.subarray(0, filled));
        state = 'done';
        segment.fill(0);
        return [last];
      });
    },
  };
}

/** Seals an async (or sync) iterable of plaintext chunks; yields the header, then sealed segments. */
export async function* sealStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: SealerOptions,
): AsyncGenerator<Buffer, void, undefined> {
  const sealer = createSealer(options);
  yield sealer.header;
  for await (const chunk of source) yield* sealer.push(chunk);
  yield* sealer.finish();
}

/**
 * Unseals an async (or sync) iterable of sealed chunks; yields verified plaintext segment by segment
 * and throws (after yielding only verified segments) on any integrity failure or truncation.
 */
export async function* unsealStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: UnsealerOptions,
): AsyncGenerator<Buffer, void, undefined> {
  const unsealer = createUnsealer(options);
  for await (const chunk of source) yield* unsealer.push(chunk);
  yield* unsealer.finish();
}

/** Seals a whole buffer. */
export function sealBuffer(plaintext: Uint8Array, options: SealerOptions): Buffer {
  const sealer = createSealer(options);
  return Buffer.concat([sealer.header, ...sealer.push(plaintext), ...sealer.finish()]);
}

/** Unseals a whole buffer; all or nothing. */
export function unsealBuffer(sealed: Uint8Array, options: UnsealerOptions): Buffer {
  const unsealer = createUnsealer(options);
  return Buffer.concat([...unsealer.push(sealed), ...unsealer.finish()]);
}
