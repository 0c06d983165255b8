/**
 * Reseal: a Vonage archive decrypted and sealed for other recipients in one pass (docs/ARCHITECTURE.md §6). The
 * plaintext exists only in memory, segment by segment, between the CBC decryptor and the sealer; the
 * sealed output is committed only after every check of the Vonage archive passed.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { createSealer, type Sealer } from '../../format/sealed-stream.js';
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
  let sealer: Sealer;
  let recipients: string[];
  try {
    const stanzas = options.recipients.map((key) => wrapFileKey(fileKey, key));
    recipients = stanzas.map((stanza) => Buffer.from(stanza.keyId).toString('hex'));
    const context = options.context ? Buffer.from(JSON.stringify(options.context), 'utf8') : undefined;
    sealer = createSealer({
      fileKey,
      salt: randomBytes(32),
      recipients: stanzas,
      ...(options.log2SegmentSize !== undefined ? { log2SegmentSize: options.log2SegmentSize } : {}),
      ...(context ? { context } : {}),
    });
  } catch (error) {
    // The sink is aborted on every failure, set-up included.
    await options.sink.abort();
    throw error;
  } finally {
    fileKey.fill(0);
  }
  const sealing = sealingSink(options.sink, sealer);
  const report = await decryptArchive({ ...options, sink: sealing.sink });
  return { ...report, recipients, sealedBytes: sealing.bytes() };
}

/** A sink that seals what it is given and passes the sealed bytes on; the header goes first. */
function sealingSink(inner: OutputSink, sealer: Sealer): { sink: OutputSink; bytes: () => number } {
  let written = 0;
  let headerWritten = false;
  const forward = async (buffers: Buffer[]) => {
    if (!headerWritten) {
      headerWritten = true;
      buffers.unshift(sealer.header);
    }
    for (const buffer of buffers) {
      written += buffer.length;
      await inner.write(buffer);
    }
  };
  return {
    bytes: () => written,
    sink: {
      name: inner.name,
      write: (chunk) => forward(sealer.push(chunk)),
      // push() has consumed the chunk when it returns: the caller may reuse its buffer at once.
      writeAndRelease: (chunk) => forward(sealer.push(chunk)),
      async commit() {
        await forward(sealer.finish());
        await inner.commit();
      },
      abort: () => inner.abort(),
    },
  };
}
