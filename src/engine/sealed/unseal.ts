/**
 * Unseals one sealed file (docs/FORMAT.md) from a Source into an OutputSink: header, recipient,
 * header tag and length checks first (§8 steps 1–7), then the body as runs of whole segments through
 * the ring (ring.ts). Each run is verified and decrypted in place — by a pool thread, or by the main
 * thread when no thread is free (while the threads boot, for instance) — and released to the sink
 * strictly in order, and only the segments in it whose tag verified. The end of the data decides the
 * final segment: a short read ends the file, so the final flag and the segment count need no
 * lookahead and no known size (stdin). The sink is committed after the final segment verified and
 * aborted on any failure. Memory is the ring: (pool tasks + 4) runs of `taskSize` bytes.
 */
import { AbortError, UsageError } from '../../errors.js';
import { MIN_HEADER_LENGTH, openHeader, parseHeader, segmentCount, TAG_LENGTH, truncatedHeaderError, type SealedHeader, type SegmentKeys } from '../../format/sealed.js';
import { openSegmentRun } from '../../format/sealed-runs.js';
import { unwrapFileKey } from '../../keys/recipients.js';
import { createKeyring, type Keyring } from '../../keys/keyring.js';
import type { Source } from '../../storage/source.js';
import type { CryptoBackendName } from '../../crypto-backend.js';
import type { UnsealBatchResult } from '../threads/messages.js';
import type { OutputSink } from '../output.js';
import type { DecryptPool } from '../threads/pool.js';
import type { CiphertextReader } from '../reader.js';
import { runRing } from '../threads/ring.js';
import { batchFailure, withKeyState } from './key-state.js';
import { runSealedPipeline } from './pipeline.js';
import { runNativeWindows } from './windows.js';

export interface UnsealArchiveOptions {
  source: Source;
  /** Keys to find the file key with (recipient stanzas, docs/FORMAT.md §4): file or token keys; the caller closes it. */
  keyring?: Keyring;
  /** Or the 32-byte file key itself (then no recipient stanza is looked at). */
  fileKey?: Uint8Array;
  sink: OutputSink;
  signal?: AbortSignal;
  /** Called with sealed bytes read so far (header included) and the total when known. */
  onProgress?: (bytes: number, total: number | undefined) => void;
  /** A pool shared between files (see `createDecryptPool`); the caller closes it. */
  pool?: DecryptPool;
  /**
   * Files at least this large (bytes) are opened with the pool (a private one when none is given);
   * smaller ones, and sources of unknown size (stdin), on the calling thread alone. 0 uses the pool
   * for everything. Default: 4 MiB with `pool`, else 256 MiB (see bench/RESULTS.md, "sealed format").
   */
  parallelThreshold?: number;
  /** Sealed bytes per pool task, rounded down to whole segments (at least one); default 4 MiB. */
  taskSize?: number;
  /** `node` forces the node:crypto backend; default: the native core when it loaded (docs/ENGINE.md). */
  crypto?: CryptoBackendName;
}

export interface UnsealReport {
  source: string;
  output: string;
  /** Bytes of the sealed file, header included. */
  sealedBytes: number;
  plaintextBytes: number;
  segments: number;
  segmentSize: number;
  /** The header's authenticated context (archive-crypt writes UTF-8 JSON); empty when none. */
  context: Buffer;
  /** Key ids (hex) of the recipients the file is sealed for. */
  recipients: string[];
  /** True when the body went through the pool. */
  parallel: boolean;
  /** The crypto backend that ran (docs/ENGINE.md). */
  crypto: CryptoBackendName;
}

/**
 * Verifies and decrypts a sealed file; commits the sink on success, aborts it on any failure.
 *
 * @example
 * ```ts
 * const keyring = await openKeyring(['archive-private-key.pem'], { passphrase });
 * const report = await unsealArchive({ source: await openSource('a.sealed'), keyring, sink: await openFileSink('a.ts') });
 * ```
 * @throws KeyError (exit 3) when no key opens a recipient stanza; IntegrityError (exit 4) for any
 *   change to the file, truncation or trailing data; StorageError, OutputError, AbortError as they
 *   happen. The sink is aborted in every case; streamed output holds only verified segments.
 */
export async function unsealArchive(options: UnsealArchiveOptions): Promise<UnsealReport> {
  const prepare = () => {
    if ((options.keyring === undefined) === (options.fileKey === undefined)) throw new UsageError('give options.keyring or options.fileKey (one of them)');
  };
  return runSealedPipeline(options, prepare, cancelled, async (pipeline) => {
    const { backend, total, reader } = pipeline;
    const header = await readHeader(reader);
    const keys = await openWithKey(header, options);
    const layout = { headerLength: header.bytes.length, segmentSize: header.segmentSize };
    // With a known size an impossible length (truncated or extended) fails before the body is read;
    // it comes after the header tag, which vouches for the header length and segment size.
    if (total !== undefined) segmentCount(total, layout);
    const taskSize = pipeline.choosePool();
    const { windows } = pipeline;
    const full = header.segmentSize + TAG_LENGTH;
    const body = windows
      ? await runNativeWindows({
          ...windows,
          seal: false,
          keys,
          start: layout.headerLength,
          length: windows.size - layout.headerLength,
          runSegments: Math.max(1, Math.floor(taskSize / full)),
          sink: options.sink,
          signal: options.signal,
          onRead: (bytes) => options.onProgress?.(layout.headerLength + bytes, total),
          cancelled: () => cancelled(),
        }).then(({ inputBytes, outputBytes, segments }) => ({ sealedBytes: inputBytes, plaintextBytes: outputBytes, segments }))
      : await unsealBody({
      reader,
      keys,
      sink: options.sink,
      signal: options.signal,
      pool: pipeline.pool,
      taskSize,
      onProgress: options.onProgress,
      headerLength: layout.headerLength,
      total,
      positional: pipeline.positional(layout.headerLength),
      backend: backend.name,
    });
    return {
      source: options.source.name,
      output: options.sink.name,
      sealedBytes: layout.headerLength + body.sealedBytes,
      plaintextBytes: body.plaintextBytes,
      segments: body.segments,
      segmentSize: header.segmentSize,
      context: header.context,
      recipients: header.recipients.map((r) => Buffer.from(r.keyId).toString('hex')),
      parallel: pipeline.pool !== undefined || windows !== undefined,
      crypto: backend.name,
    };
  });
}

function cancelled(cause?: unknown): AbortError {
  return new AbortError('unsealing cancelled; no output was kept', cause === undefined ? undefined : { cause });
}

/**
 * Reads exactly the header: first the shortest header there can be, then as much more as
 * parseHeader says it needs. Input that ends inside it is parsed as far as it goes (as the streaming
 * unsealer does), so a file that is not a sealed one says so, and a truncated one names what is missing.
 */
async function readHeader(reader: CiphertextReader): Promise<SealedHeader> {
  let bytes = Buffer.alloc(0);
  let needed = MIN_HEADER_LENGTH;
  for (;;) {
    const more = Buffer.alloc(needed - bytes.length);
    const n = await reader.fill(more);
    bytes = Buffer.concat([bytes, more.subarray(0, n)]);
    if (n < more.length) throw truncatedHeaderError(bytes);
    const parsed = parseHeader(bytes);
    if (parsed.complete) return parsed.header;
    needed = parsed.needed;
  }
}

/** Finds the file key (recipients or given), verifies the header tag and forgets the file key. */
async function openWithKey(header: SealedHeader, options: UnsealArchiveOptions): Promise<SegmentKeys> {
  if (options.fileKey) return openHeader(header, options.fileKey);
  const fileKey = await unwrapFileKey(header.recipients, options.keyring ?? createKeyring([]));
  try {
    return openHeader(header, fileKey);
  } finally {
    fileKey.fill(0);
  }
}

interface BodyInput {
  reader: CiphertextReader;
  keys: SegmentKeys;
  sink: OutputSink;
  signal: AbortSignal | undefined;
  pool: DecryptPool | undefined;
  taskSize: number;
  onProgress: ((bytes: number, total: number | undefined) => void) | undefined;
  headerLength: number;
  total: number | undefined;
  positional: { fd: number; start: number; length: number } | undefined;
  backend: CryptoBackendName;
}

/** The body through the ring (ring.ts): runs of whole sealed segments, opened in place. */
async function unsealBody(input: BodyInput): Promise<{ sealedBytes: number; plaintextBytes: number; segments: number }> {
  const { keys, pool } = input;
  const full = keys.segmentSize + TAG_LENGTH;
  const runBytes = Math.max(1, Math.floor(input.taskSize / full)) * full;
  const asStep = (result: UnsealBatchResult) => ({ outputBytes: result.plaintextBytes, segments: result.segments, result, bytesRead: result.bytesRead });
  const { inputBytes, outputBytes, segments } = await withKeyState(keys, input.backend, (state, mainKeys) =>
    runRing({
      reader: input.reader,
      sink: input.sink,
      signal: input.signal,
      pool,
      slotBytes: runBytes,
      readOffset: 0,
      readBytes: runBytes,
      positional: input.positional,
      segmentsIn: (length, final) => (final ? Math.floor(length / full) + 1 : length / full),
      local: (run) => asStep(openSegmentRun(mainKeys, new Uint8Array(run.data, run.offset, run.length), run.firstIndex, keys.segmentSize, run.final)),
      remote: async (threads, run) => asStep(await threads.unseal({ state, ...run, segmentSize: keys.segmentSize, backend: input.backend })),
      // Only verified segments are in `plaintextBytes`: streamed output is always a prefix of the plaintext.
      failure: (step) => (step.result.failure === undefined ? undefined : batchFailure(step.result)),
      onRead: (bytes) => input.onProgress?.(input.headerLength + bytes, input.total),
      cancelled: () => cancelled(),
    }),
  );
  return { sealedBytes: inputBytes, plaintextBytes: outputBytes, segments };
}
