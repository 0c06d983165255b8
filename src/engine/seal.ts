/**
 * Seals one input (any Source) into the sealed format (docs/FORMAT.md §7) for one or more recipients,
 * on the calling thread: the plaintext is read in runs of whole segments into two reused buffers (the
 * next read runs on a libuv thread while this one is sealed in place and written), so the input flows
 * through memory without a copy per segment. The sink is committed after the final segment and
 * aborted on any failure.
 */
import { randomBytes, type KeyObject, type X509Certificate } from 'node:crypto';
import { AbortError, ArchiveCryptError, UsageError } from '../errors.js';
import { sealHeader, TAG_LENGTH, type SegmentKeys } from '../format/sealed.js';
import { wrapFileKey } from '../keys/recipients.js';
import type { Source } from '../storage/source.js';
import type { OutputSink } from './output.js';
import { openCiphertextReader } from './reader.js';
import { readKeyState, sealRun, writeKeyState } from './sealed-batch.js';

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
}

export interface SealReport {
  source: string;
  output: string;
  plaintextBytes: number;
  sealedBytes: number;
  segments: number;
  /** Key ids (hex) of the recipients, in the order given. */
  recipients: string[];
}

/** Plaintext bytes per run (rounded down to whole segments, at least one). */
const RUN_SIZE = 1024 * 1024;

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
  const { source, sink, signal } = options;
  try {
    if (options.recipients.length === 0) throw new UsageError('options.recipients must name at least one recipient');
    const { header, keys, recipients } = newHeader(options);
    if (signal?.aborted) throw cancelled();
    const total = (await source.stat(signal)).size;
    const reader = await openCiphertextReader(source, { signal });
    const segmentSize = keys.segmentSize;
    const perRun = Math.max(1, Math.floor(RUN_SIZE / segmentSize));
    // Each buffer holds a run's plaintext after 32 bytes of room per segment, and its sealed bytes from the start.
    const room = perRun * TAG_LENGTH;
    const runPlaintext = perRun * segmentSize;
    const buffers = [Buffer.allocUnsafeSlow(room + runPlaintext), Buffer.allocUnsafeSlow(room + runPlaintext)];
    const state = new Uint8Array(96);
    writeKeyState(state, keys);
    const runKeys = readKeyState(state);
    // The KeyObjects hold the only copies from here on.
    state.fill(0);
    keys.encryptionKey.fill(0);
    keys.macKey.fill(0);
    let plaintextBytes = 0;
    let sealedBytes = header.length;
    let index = 0;
    let current = 0;
    let next = reader.fill((buffers[0] as Buffer).subarray(room));
    try {
      await sink.write(header);
      for (;;) {
        const n = await next;
        if (signal?.aborted) throw cancelled();
        const buffer = buffers[current] as Buffer;
        // A full run is never the last (the final segment is always shorter); a short read ends the input.
        const final = n < runPlaintext;
        current = 1 - current;
        if (!final) next = reader.fill((buffers[current] as Buffer).subarray(room));
        const sealed = sealRun(runKeys, buffer, room, n, index, segmentSize, final);
        index += final ? Math.floor(n / segmentSize) + 1 : perRun;
        plaintextBytes += n;
        sealedBytes += sealed;
        // The buffer is read into again two runs from now: the sink must be done with it by then.
        const out = buffer.subarray(0, sealed);
        await (sink.writeAndRelease ? sink.writeAndRelease(out) : sink.write(Buffer.from(out)));
        options.onProgress?.(plaintextBytes, total);
        if (final) break;
      }
    } catch (error) {
      next.catch(() => undefined);
      throw error;
    } finally {
      await reader.close();
    }
    await sink.commit();
    return { source: source.name, output: sink.name, plaintextBytes, sealedBytes, segments: index, recipients };
  } catch (error) {
    await sink.abort();
    if (error instanceof ArchiveCryptError) throw error;
    if ((error as Error).name === 'AbortError') throw cancelled(error);
    throw error;
  }
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
