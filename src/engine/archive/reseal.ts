/**
 * Reseal: a Vonage archive decrypted and sealed for other recipients in one pass (docs/ARCHITECTURE.md §6). The
 * plaintext exists only in memory, segment by segment, between the CBC decryptor and the sealer; the
 * sealed output is committed only after every check of the Vonage archive passed.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { cryptoBackend, type CryptoBackendName } from '../../crypto-backend.js';
import { sealHeader, TAG_LENGTH, type SegmentKeys } from '../../format/sealed.js';
import { sealSegmentRun } from '../../format/sealed-runs.js';
import { contextsFromState, freeContexts, KEY_STATE_LENGTH, writeKeyState } from '../sealed/key-state.js';
import { wrapFileKey } from '../../keys/recipients.js';
import { decryptArchive, type DecryptArchiveOptions, type DecryptReport } from './decrypt.js';
import type { OutputSink } from '../output.js';

export interface ResealArchiveOptions extends Omit<DecryptArchiveOptions, 'sink'> {
  /** Public keys of the recipients (from their certificates). */
  recipients: readonly KeyObject[];
  /** Where the sealed file goes. */
  sink: OutputSink;
  /** Segment size as a power of two (docs/FORMAT.md), default 16. */
  log2SegmentSize?: number;
  /** Authenticated metadata recorded in the header (archive id, original name). */
  context?: Record<string, string | number>;
}

export interface ResealReport extends DecryptReport {
  /** Key ids (hex) of the recipients the output is sealed for. */
  recipients: string[];
  sealedBytes: number;
}

/**
 * @example
 * ```ts
 * await resealArchive({ source, password: json.password, keyring, recipients: [auditorCert.publicKey], sink: await openFileSink('a.sealed') });
 * ```
 */
export async function resealArchive(options: ResealArchiveOptions): Promise<ResealReport> {
  const fileKey = randomBytes(32);
  let header: Buffer;
  let keys: SegmentKeys;
  let recipients: string[];
  try {
    const stanzas = options.recipients.map((key) => wrapFileKey(fileKey, key));
    recipients = stanzas.map((stanza) => Buffer.from(stanza.keyId).toString('hex'));
    const context = options.context ? Buffer.from(JSON.stringify(options.context), 'utf8') : undefined;
    ({ bytes: header, keys } = sealHeader(
      {
        salt: randomBytes(32),
        recipients: stanzas,
        ...(options.log2SegmentSize !== undefined ? { log2SegmentSize: options.log2SegmentSize } : {}),
        ...(context ? { context } : {}),
      },
      fileKey,
    ));
  } catch (error) {
    // The sink is aborted on every failure, set-up included.
    await options.sink.abort();
    throw error;
  } finally {
    fileKey.fill(0);
  }
  const sealing = sealingSink(options.sink, header, keys, cryptoBackend(options.crypto).name);
  try {
    const report = await decryptArchive({ ...options, sink: sealing.sink });
    return { ...report, recipients, sealedBytes: sealing.bytes() };
  } finally {
    sealing.free();
  }
}

/** Plaintext bytes sealed per run (whole segments): large enough that per-run costs vanish. */
const RUN_PLAINTEXT = 1024 * 1024;

/**
 * A sink that seals what it is given and passes the sealed bytes on, header first: the plaintext is
 * gathered into one reused run buffer and sealed there in place on the crypto backend
 * (format/sealed-runs.ts), so nothing is allocated per segment. Writes are taken one after the other.
 */
function sealingSink(inner: OutputSink, header: Buffer, keys: SegmentKeys, backend: CryptoBackendName): { sink: OutputSink; bytes: () => number; free: () => void } {
  const segmentSize = keys.segmentSize;
  const perRun = Math.max(1, Math.floor(RUN_PLAINTEXT / segmentSize));
  const room = perRun * TAG_LENGTH;
  const runPlaintext = perRun * segmentSize;
  const run = Buffer.alloc(room + runPlaintext);
  const state = new Uint8Array(KEY_STATE_LENGTH);
  writeKeyState(state, keys);
  keys.encryptionKey.fill(0);
  keys.macKey.fill(0);
  const contexts = contextsFromState(state, backend);
  state.fill(0);
  let filled = 0;
  let index = 0;
  let written = 0;
  let headerWritten = false;
  let freed = false;
  let chain: Promise<void> = Promise.resolve();
  // A copy per run (1 MiB, not per segment): a stream sink's write callback does not promise that
  // the stream let go of the bytes (a PassThrough keeps them), and the run buffer is reused at once.
  const out = async (bytes: Uint8Array) => {
    written += bytes.byteLength;
    await inner.write(Buffer.from(bytes));
  };
  const flush = async (final: boolean) => {
    if (!headerWritten) {
      headerWritten = true;
      await out(header);
    }
    const n = sealSegmentRun(contexts, run, room, filled, index, segmentSize, final);
    index += perRun;
    filled = 0;
    await out(run.subarray(0, n));
  };
  const push = async (chunk: Uint8Array) => {
    for (let at = 0; at < chunk.byteLength; ) {
      const take = Math.min(runPlaintext - filled, chunk.byteLength - at);
      run.set(chunk.subarray(at, at + take), room + filled);
      filled += take;
      at += take;
      // A full run is never the last: the final segment is always shorter than a segment.
      if (filled === runPlaintext) await flush(false);
    }
  };
  const queued = (step: () => Promise<void>) => {
    chain = chain.then(step);
    return chain;
  };
  const free = () => {
    if (freed) return;
    freed = true;
    freeContexts(contexts);
    run.fill(0);
  };
  return {
    bytes: () => written,
    free,
    sink: {
      name: inner.name,
      write: (chunk) => queued(() => push(chunk)),
      // The chunk is copied into the run buffer before the write resolves: the caller may reuse it.
      writeAndRelease: (chunk) => queued(() => push(chunk)),
      commit: () =>
        queued(async () => {
          await flush(true);
          free();
          await inner.commit();
        }),
      abort: async () => {
        await chain.catch(() => undefined);
        free();
        await inner.abort();
      },
    },
  };
}
