/**
 * The checks run while an archive streams through (docs/ARCHITECTURE.md §2.5, "what can be checked"), and the
 * report they fill in. Every check sees the data once, in order, on the main thread; the ones not
 * asked for cost nothing.
 */
import { createHash, type Hash } from 'node:crypto';
import type { CryptoBackendName } from '../../crypto-backend.js';
import { IntegrityError } from '../../errors.js';
import type { Padding } from '../../format/opentok.js';
import { TS_PACKET_SIZE, firstBadSyncByte } from '../../format/mpegts.js';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface DecryptReport {
  source: string;
  output: string;
  ok: boolean;
  ciphertextBytes: number;
  plaintextBytes: number;
  padding: Padding;
  /** True when ranges went through the worker pool. */
  parallel: boolean;
  /** The crypto backend that ran (docs/ENGINE.md). */
  crypto: CryptoBackendName;
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
    /** Checksums the store vouches for (S3 ETag MD5 / x-amz-checksum-*, Azure Content-MD5) over the bytes received. */
    storage: { status: CheckStatus; algorithms: string[] };
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

export interface CheckOptions {
  padding: Padding;
  checkMpegTs: boolean;
  expectSha256?: Uint8Array | undefined;
  expectSize?: number | undefined;
}

/** Accumulates the streaming checks of one archive and turns them into a report. */
export class ArchiveChecks {
  readonly report: DecryptReport;
  /** Smallest offset of a packet start without a sync byte seen so far (-1: none). */
  private firstBadSync = -1;
  private readonly hashes: { ciphertext: Hash; plaintext: Hash } | undefined;
  /** undefined: hashed here; null: hashed by another thread, not known yet; else that thread's digest. */
  private plaintextDigest: Buffer | null | undefined;
  /** The same for the ciphertext (hashed by the native core over a mapping of the file). */
  private ciphertextDigest: Buffer | null | undefined;

  constructor(
    source: string,
    output: string,
    private readonly options: CheckOptions,
  ) {
    this.report = emptyReport(source, output, options);
    this.hashes = options.expectSha256 ? { ciphertext: createHash('sha256'), plaintext: createHash('sha256') } : undefined;
  }

  /** True when the MPEG-TS sync bytes are checked. */
  get checkingMpegTs(): boolean {
    return this.options.checkMpegTs;
  }

  /** True when SHA-256 digests are computed (the costliest check). */
  get hashing(): boolean {
    return this.hashes !== undefined;
  }

  /** Every ciphertext byte, in order. */
  ciphertext(chunk: Uint8Array): void {
    this.report.ciphertextBytes += chunk.byteLength;
    if (this.ciphertextDigest === undefined) this.hashes?.ciphertext.update(chunk);
  }

  /** Ciphertext bytes that were read by another thread (hashed elsewhere, or not hashed at all). */
  countCiphertext(bytes: number): void {
    this.report.ciphertextBytes += bytes;
  }

  /**
   * Every plaintext byte, in order. `firstBadSync` is given when the sync bytes of the chunk were
   * already checked (by the pool thread that decrypted it): -1 or the absolute offset it found.
   */
  plaintext(chunk: Uint8Array, firstBadSync?: number): void {
    if (this.options.checkMpegTs && this.firstBadSync < 0) {
      this.firstBadSync = firstBadSync ?? firstBadSyncByte(chunk, this.report.plaintextBytes);
    }
    this.report.plaintextBytes += chunk.byteLength;
    if (this.plaintextDigest === undefined) this.hashes?.plaintext.update(chunk);
  }

  /**
   * Hands the plaintext SHA-256 to another thread (a one-thread pool hashes it in order): from now on
   * plaintext() does not hash, and `setPlaintextDigest` must be called before finish().
   */
  hashPlaintextElsewhere(): void {
    this.plaintextDigest = null;
  }

  setPlaintextDigest(digest: Buffer): void {
    this.plaintextDigest = digest;
  }

  /** As `hashPlaintextElsewhere`, for the ciphertext: `setCiphertextDigest` before finish(). */
  hashCiphertextElsewhere(): void {
    this.ciphertextDigest = null;
  }

  setCiphertextDigest(digest: Buffer): void {
    this.ciphertextDigest = digest;
  }

  /** Records the outcome of the length and padding checks: which one failed, or none. */
  recordFinal(failed?: 'length' | 'padding'): void {
    this.report.checks.length = failed === 'length' ? 'failed' : 'ok';
    if (failed === 'padding') this.report.checks.padding = 'failed';
    else if (failed === undefined && this.options.padding === 'pkcs7') this.report.checks.padding = 'ok';
  }

  /** Runs the end-of-stream checks; throws ArchiveCheckError with the report on the first failure. */
  finish(): DecryptReport {
    const report = this.report;
    const failures: string[] = [];
    if (this.options.checkMpegTs) {
      // Only whole packets count: a "packet start" in the trailing bytes is padding (kept with -nopad,
      // or checked by a pool thread before the last range lost its padding); trailing bytes are judged below.
      const packets = Math.floor(report.plaintextBytes / TS_PACKET_SIZE);
      const bad = this.firstBadSync >= 0 && this.firstBadSync < packets * TS_PACKET_SIZE ? this.firstBadSync : undefined;
      const summary = {
        packets,
        trailingBytes: report.plaintextBytes % TS_PACKET_SIZE,
        firstBadOffset: bad,
      };
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
    if (this.hashes && this.options.expectSha256) {
      const ciphertext = this.ciphertextDigest ?? this.hashes.ciphertext.digest();
      const plaintext = this.plaintextDigest ?? this.hashes.plaintext.digest();
      const expected = Buffer.from(this.options.expectSha256);
      const matched = expected.equals(ciphertext) ? 'ciphertext' : expected.equals(plaintext) ? 'plaintext' : undefined;
      report.checks.sha256 = {
        status: matched ? 'ok' : 'failed',
        ...(matched ? { matched } : {}),
        ciphertext: ciphertext.toString('base64'),
        plaintext: plaintext.toString('base64'),
      };
      if (!matched) failures.push('sha256 mismatch: neither the ciphertext nor the plaintext has the expected SHA-256 (archive changed or corrupted)');
    }
    if (this.options.expectSize !== undefined) {
      const expected = this.options.expectSize;
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
    return report;
  }
}

function emptyReport(source: string, output: string, options: CheckOptions): DecryptReport {
  return {
    source,
    output,
    ok: false,
    ciphertextBytes: 0,
    plaintextBytes: 0,
    padding: options.padding,
    parallel: false,
    crypto: 'node',
    checks: {
      length: 'skipped',
      padding: 'skipped',
      mpegts: { status: 'skipped', packets: 0, trailingBytes: 0 },
      sha256: { status: 'skipped' },
      size: { status: 'skipped', ...(options.expectSize !== undefined ? { expected: options.expectSize } : {}) },
      storage: { status: 'skipped', algorithms: [] },
    },
  };
}
