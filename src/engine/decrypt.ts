/**
 * Decrypts one Vonage archive from a Source into an OutputSink, running every check on the way, in
 * one pass over the data, in bounded memory. The sink is committed only after every check passed and
 * aborted on any failure, so a named output file exists only when the archive verified.
 */
import { createHash, type Hash } from 'node:crypto';
import { AbortError, ArchiveCryptError, IntegrityError } from '../errors.js';
import { CbcDecryptor, type Padding } from '../format/opentok.js';
import { MpegTsChecker } from '../format/mpegts.js';
import type { Source } from '../storage/source.js';
import type { OutputSink } from './output.js';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface DecryptReport {
  source: string;
  output: string;
  ok: boolean;
  ciphertextBytes: number;
  plaintextBytes: number;
  padding: Padding;
  checks: {
    /** Positive multiple of 16. */
    length: CheckStatus;
    /** PKCS#7 padding well-formed (skipped with padding "none"). */
    padding: CheckStatus;
    /** 0x47 at every 188-byte packet start. */
    mpegts: { status: CheckStatus; packets: number; trailingBytes: number; firstBadOffset?: number };
    /** Expected SHA-256 compared with both ciphertext and plaintext. */
    sha256: { status: CheckStatus; matched?: 'ciphertext' | 'plaintext'; ciphertext?: string; plaintext?: string };
    /** Expected size (archive JSON) compared with both ciphertext and plaintext sizes. */
    size: { status: CheckStatus; expected?: number; matched?: 'ciphertext' | 'plaintext' };
  };
  /** The first failure, one line. */
  error?: string;
}

/** An integrity failure that carries the report of what was checked. */
export class ArchiveCheckError extends IntegrityError {
  constructor(
    message: string,
    readonly report: DecryptReport,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface DecryptArchiveOptions {
  source: Source;
  /** The unwrapped archive key and IV (see `unwrapPassword`). */
  archiveKey: { key: Uint8Array; iv: Uint8Array };
  sink: OutputSink;
  /** `pkcs7` (default) strips and checks padding; `none` keeps it, like `openssl enc -d -nopad`. */
  padding?: Padding;
  /** Check the MPEG-TS structure (default true). */
  checkMpegTs?: boolean;
  /** Expected SHA-256 (raw 32 bytes) of the ciphertext or the plaintext. */
  expectSha256?: Uint8Array;
  /** Expected size in bytes (archive JSON `size`) of the ciphertext or the plaintext. */
  expectSize?: number;
  signal?: AbortSignal;
  /** Called with ciphertext bytes processed so far and the total when known. */
  onProgress?: (bytes: number, total: number | undefined) => void;
}

/** Largest slice handed to `decipher.update`: its output is a fresh allocation, and small ones are faster (design.md §7). */
const SLICE = 64 * 1024;

/**
 * Decrypts and verifies an archive; commits the sink on success, aborts it on any failure.
 *
 * @example
 * ```ts
 * const archiveKey = unwrapPassword(password, keyring);
 * const report = await decryptArchive({ source: await openSource('archive.mp4'), archiveKey, sink: await openFileSink('out.ts') });
 * ```
 * @throws ArchiveCheckError (exit 4) with the report when a check fails; StorageError, OutputError,
 *   AbortError as they happen. The sink is aborted in every case.
 */
export async function decryptArchive(options: DecryptArchiveOptions): Promise<DecryptReport> {
  const { source, sink, signal } = options;
  const padding = options.padding ?? 'pkcs7';
  const report = emptyReport(source.name, sink.name, padding, options);
  const mpegts = options.checkMpegTs === false ? undefined : new MpegTsChecker();
  const hashes = options.expectSha256 ? { ciphertext: createHash('sha256'), plaintext: createHash('sha256') } : undefined;
  const decryptor = new CbcDecryptor(options.archiveKey.key, options.archiveKey.iv, padding);

  const emit = async (plain: Buffer) => {
    if (plain.length === 0) return;
    report.plaintextBytes += plain.length;
    mpegts?.update(plain);
    hashes?.plaintext.update(plain);
    await sink.write(plain);
  };

  try {
    const total = (await source.stat(signal)).size;
    for await (const chunk of source.read(0, undefined, signal)) {
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      hashes?.ciphertext.update(chunk);
      for (let offset = 0; offset < chunk.byteLength; offset += SLICE) {
        await emit(decryptor.update(chunk.subarray(offset, Math.min(offset + SLICE, chunk.byteLength))));
      }
      options.onProgress?.(decryptor.ciphertextBytes, total);
    }
    if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
    report.ciphertextBytes = decryptor.ciphertextBytes;
    const tail = finalBlock(decryptor, report);
    await emit(tail);
    finishChecks(report, options, mpegts, hashes);
    await sink.commit();
    return report;
  } catch (error) {
    await sink.abort();
    report.ok = false;
    report.ciphertextBytes = Math.max(report.ciphertextBytes, decryptor.ciphertextBytes);
    if (error instanceof ArchiveCheckError) throw error;
    report.error = error instanceof Error ? error.message : String(error);
    if (error instanceof IntegrityError) throw new ArchiveCheckError(error.message, report, { cause: error });
    if (error instanceof ArchiveCryptError) throw error;
    if ((error as Error).name === 'AbortError') throw new AbortError('cancelled; no output was kept', { cause: error });
    throw error;
  }
}

function finalBlock(decryptor: CbcDecryptor, report: DecryptReport): Buffer {
  try {
    const tail = decryptor.final();
    report.checks.length = 'ok';
    if (report.padding === 'pkcs7') report.checks.padding = 'ok';
    return tail;
  } catch (error) {
    if (/length|empty/.test((error as Error).message)) report.checks.length = 'failed';
    else {
      report.checks.length = 'ok';
      report.checks.padding = 'failed';
    }
    throw error;
  }
}

function finishChecks(
  report: DecryptReport,
  options: DecryptArchiveOptions,
  mpegts: MpegTsChecker | undefined,
  hashes: { ciphertext: Hash; plaintext: Hash } | undefined,
): void {
  const failures: string[] = [];
  if (mpegts) {
    const summary = mpegts.summary();
    // With padding kept (-nopad) the 1–16 padding bytes trail the last packet.
    const trailingAllowed = report.padding === 'none' ? 16 : 0;
    const ok = summary.firstBadOffset === undefined && summary.packets > 0 && summary.trailingBytes <= trailingAllowed;
    report.checks.mpegts = {
      status: ok ? 'ok' : 'failed',
      packets: summary.packets,
      trailingBytes: summary.trailingBytes,
      ...(summary.firstBadOffset !== undefined ? { firstBadOffset: summary.firstBadOffset } : {}),
    };
    if (!ok) {
      failures.push(
        summary.firstBadOffset !== undefined
          ? `plaintext is not MPEG-TS: no sync byte at offset ${summary.firstBadOffset} (wrong key, or a corrupted archive; --no-mpegts-check for other media)`
          : `plaintext is not MPEG-TS: ${summary.packets} packets and ${summary.trailingBytes} trailing bytes (--no-mpegts-check for other media)`,
      );
    }
  }
  if (hashes && options.expectSha256) {
    const ciphertext = hashes.ciphertext.digest();
    const plaintext = hashes.plaintext.digest();
    const expected = Buffer.from(options.expectSha256);
    const matched = expected.equals(ciphertext) ? 'ciphertext' : expected.equals(plaintext) ? 'plaintext' : undefined;
    report.checks.sha256 = {
      status: matched ? 'ok' : 'failed',
      ...(matched ? { matched } : {}),
      ciphertext: ciphertext.toString('base64'),
      plaintext: plaintext.toString('base64'),
    };
    if (!matched) failures.push('sha256 mismatch: neither the ciphertext nor the plaintext has the expected SHA-256 (archive changed or corrupted)');
  }
  if (options.expectSize !== undefined) {
    const expected = options.expectSize;
    const matched =
      expected === report.ciphertextBytes ? 'ciphertext' : expected === report.plaintextBytes ? 'plaintext' : undefined;
    report.checks.size = { status: matched ? 'ok' : 'failed', expected, ...(matched ? { matched } : {}) };
    if (!matched) {
      failures.push(`size mismatch: archive JSON says ${expected} bytes, got ${report.ciphertextBytes} encrypted / ${report.plaintextBytes} decrypted`);
    }
  }
  report.ok = failures.length === 0;
  if (failures[0] !== undefined) {
    report.error = failures[0];
    throw new ArchiveCheckError(failures[0], report);
  }
}

function emptyReport(source: string, output: string, padding: Padding, options: DecryptArchiveOptions): DecryptReport {
  return {
    source,
    output,
    ok: false,
    ciphertextBytes: 0,
    plaintextBytes: 0,
    padding,
    checks: {
      length: 'skipped',
      padding: 'skipped',
      mpegts: { status: 'skipped', packets: 0, trailingBytes: 0 },
      sha256: { status: 'skipped' },
      size: { status: 'skipped', ...(options.expectSize !== undefined ? { expected: options.expectSize } : {}) },
    },
  };
}
