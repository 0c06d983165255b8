/**
 * Seals one input (any Source) into the sealed format (docs/FORMAT.md §7) for one or more recipients:
 * the plaintext is read in runs of whole segments through the ring (ring.ts) and each run is sealed in
 * place — by a pool thread for large inputs, else on the calling thread — and written in order, so the
 * input flows through memory without a copy per segment. The sink is committed after the final
 * segment and aborted on any failure.
 */
import { randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { AbortError, UsageError } from '../../errors.js';
import { sealHeader, TAG_LENGTH, type SegmentKeys } from '../../format/sealed.js';
import { sealSegmentRun } from '../../format/sealed-runs.js';
import { wrapFileKey } from '../../keys/recipients.js';
import type { Source } from '../../storage/source.js';
import type { CryptoBackendName } from '../../crypto-backend.js';
import type { OutputSink } from '../output.js';
import type { DecryptPool } from '../threads/pool.js';
import { runRing } from '../threads/ring.js';
import { withKeyState } from './key-state.js';
import { runSealedPipeline } from './pipeline.js';
import { runNativeWindows } from './windows.js';

export interface SealArchiveOptions {
  source: Source;
  /** Recipients: their certificates or public keys (RSA, at least 2048 bits). */
  recipients: readonly (KeyObject | X509Certificate)[];
  sink: OutputSink;
  /** Segment size as a power of two, 10 to 24 (default 16: 64 KiB). */
  log2SegmentSize?: number;
  /** Authenticated, NOT encrypted metadata for the header (archive-crypt writes UTF-8 JSON). */
  context?: Uint8Array;
  signal?: AbortSignal;
  /** Called with plaintext bytes read so far and the total when known. */
  onProgress?: (bytes: number, total: number | undefined) => void;
  /** A pool shared between files (see `createDecryptPool`); the caller closes it. */
  pool?: DecryptPool;
  /** `node` forces the node:crypto backend; default: the native core when it loaded (docs/ENGINE.md). */
  crypto?: CryptoBackendName;
  /**
   * Inputs at least this large (bytes) are sealed with the pool (a private one when none is given);
   * smaller ones, and sources of unknown size (stdin), on the calling thread alone. 0 uses the pool
   * for everything. Default: 4 MiB with `pool`, else 256 MiB (see bench/RESULTS.md, "sealed format").
   */
  parallelThreshold?: number;
  /** Plaintext bytes per pool task, rounded down to whole segments (at least one); default 4 MiB. */
  taskSize?: number;
}

export interface SealReport {
  source: string;
  output: string;
  plaintextBytes: number;
  sealedBytes: number;
  segments: number;
  /** Key ids (hex) of the recipients, in the order given. */
  recipients: string[];
  /** True when the input went through the pool. */
  parallel: boolean;
  /** The crypto backend that ran (docs/ENGINE.md). */
  crypto: CryptoBackendName;
}

/**
 * @example
 * ```ts
 * const { publicKey } = await loadCertificate('auditor.pem');
 * await sealArchive({ source: await openSource('meeting.ts'), recipients: [publicKey], sink: await openFileSink('meeting.sealed') });
 * ```
 * @throws UsageError for bad options or recipients; StorageError, OutputError, AbortError as they
 *   happen. The sink is aborted in every failure.
 */
export async function sealArchive(options: SealArchiveOptions): Promise<SealReport> {
  const prepare = () => {
    if (options.recipients.length === 0) throw new UsageError('options.recipients must name at least one recipient');
    return newHeader(options);
  };
  return runSealedPipeline(options, prepare, cancelled, async (pipeline, { header, keys, recipients }) => {
    const { backend, total, reader } = pipeline;
    const taskSize = pipeline.choosePool();
    const { pool } = pipeline;
    const segmentSize = keys.segmentSize;
    const perRun = Math.max(1, Math.floor(taskSize / segmentSize));
    // A slot holds a run's plaintext after 32 bytes of room per segment, and its sealed bytes from the start.
    const room = perRun * TAG_LENGTH;
    const runPlaintext = perRun * segmentSize;
    const asStep = (sealedBytes: number, bytesRead?: number) => ({ outputBytes: sealedBytes, segments: 0, result: undefined, bytesRead });
    await options.sink.write(header);
    const { windows } = pipeline;
    const body = windows
      ? await runNativeWindows({ ...windows, seal: true, keys, start: 0, length: windows.size, runSegments: perRun, sink: options.sink, signal: options.signal, onRead: (bytes) => options.onProgress?.(bytes, total), cancelled: () => cancelled() })
      : await withKeyState(keys, backend.name, (state, mainKeys) =>
      runRing({
        reader,
        sink: options.sink,
        signal: options.signal,
        pool,
        slotBytes: room + runPlaintext,
        readOffset: room,
        readBytes: runPlaintext,
        positional: pipeline.positional(0),
        segmentsIn: (length, final) => (final ? Math.floor(length / segmentSize) + 1 : perRun),
        local: (run) =>
          asStep(sealSegmentRun(mainKeys, new Uint8Array(run.data, run.offset, room + run.length), room, run.length, run.firstIndex, segmentSize, run.final)),
        remote: async (threads, run) => {
          const result = await threads.seal({ state, ...run, plaintextOffset: room, segmentSize, backend: backend.name });
          return asStep(result.sealedBytes, result.bytesRead);
        },
        failure: () => undefined,
        onRead: (bytes) => options.onProgress?.(bytes, total),
        cancelled: () => cancelled(),
      }),
    );
    return {
      source: options.source.name,
      output: options.sink.name,
      plaintextBytes: body.inputBytes,
      sealedBytes: header.length + body.outputBytes,
      segments: Math.floor(body.inputBytes / segmentSize) + 1,
      recipients,
      parallel: pool !== undefined || windows !== undefined,
      crypto: backend.name,
    };
  });
}

function newHeader(options: SealArchiveOptions): { header: Buffer; keys: SegmentKeys; recipients: string[] } {
  const fileKey = randomBytes(32);
  try {
    const stanzas = options.recipients.map((recipient) => wrapFileKey(fileKey, recipient));
    const { bytes, keys } = sealHeader(
      {
        salt: randomBytes(32),
        recipients: stanzas,
        ...(options.log2SegmentSize !== undefined ? { log2SegmentSize: options.log2SegmentSize } : {}),
        ...(options.context ? { context: options.context } : {}),
      },
      fileKey,
    );
    return { header: bytes, keys, recipients: stanzas.map((s) => Buffer.from(s.keyId).toString('hex')) };
  } finally {
    fileKey.fill(0);
  }
}

function cancelled(cause?: unknown): AbortError {
  return new AbortError('sealing cancelled; nothing was kept', cause === undefined ? undefined : { cause });
}

