/**
 * Decrypts one Vonage archive from a Source into an OutputSink, running every check on the way, in
 * one pass over the data, in bounded memory. The sink is committed only after every check passed and
 * aborted on any failure, so a named output file exists only when the archive verified.
 *
 * Small archives and pipes: the calling thread alone (`serial.ts`). Larger archives of a known size
 * on the native core with two cores: this thread and a libuv thread running the addon's range loop
 * (`windows.ts`; nothing to boot). On node:crypto: CBC ranges on pool threads (`parallel.ts`), with a
 * shared pool or for SHA-256 verification (a thread costs 30–240 ms to boot; docs/ENGINE.md).
 */
import { cryptoBackend, type CryptoBackendName } from '../../crypto-backend.js';
import { availableParallelism } from 'node:os';
import { AbortError, ArchiveCryptError, IntegrityError, UsageError } from '../../errors.js';
import { BLOCK_SIZE, destroyArchiveKey, unwrapPassword, type ArchiveKey, type Padding } from '../../format/opentok.js';
import type { Keyring } from '../../keys/keyring.js';
import type { Source, SourceInfo } from '../../storage/source.js';
import { ArchiveCheckError, ArchiveChecks, type DecryptReport } from './checks.js';
import type { OutputSink } from '../output.js';
import { decryptParallel } from './parallel.js';
import { DecryptPool } from '../threads/pool.js';
import { DEFAULT_THRESHOLD_WITH_POOL } from '../threads/ring.js';
import { openCiphertextReader, type CiphertextReader } from '../reader.js';
import { decryptSerial, type PipelineInput } from './serial.js';
import { decryptFileWindows, decryptHashedWindows, decryptStreamWindows, mapArchive } from './windows.js';
import { loadNative } from '../../native.js';

export { ArchiveCheckError, type CheckStatus, type DecryptReport } from './checks.js';

/** Which key of the keyring opened a password: its position, its label (a path or a `pkcs11:` URI), the OAEP hash. */
export interface UnwrappedWith {
  index: number;
  label: string;
  oaepHash: 'sha1' | 'sha256';
}

export interface DecryptArchiveOptions {
  source: Source;
  /** The archive's password (the archive JSON's `password`). */
  password: string;
  /**
   * The keys to unwrap it with (file or token keys, src/keys/keyring.ts); the first that opens it
   * wins. The unwrapped key lives only while the archive is decrypted and is zeroed after.
   */
  keyring: Keyring;
  /** Called once the password is unwrapped: which key of the keyring opened it, and how. */
  onKeyUnwrapped?: (key: UnwrappedWith) => void;
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
  /**
   * A pool shared between archives (see `createDecryptPool`); the caller closes it. Without one, a
   * private pool is started for a large archive and destroyed when it is done.
   */
  pool?: DecryptPool;
  /**
   * Archives at least this large (bytes) are decrypted on two threads; smaller ones, and sources of
   * unknown size (stdin), on the calling thread alone. On the native core with two cores or more the
   * second thread is the addon's own (windows.ts, no pool): default 16 MiB. On node:crypto it is the
   * pool: default 4 MiB with `pool`; 64 MiB with `expectSha256` (a private one-thread pool); else
   * `Infinity` (a private pool did not pay off on 2 cores, see bench/RESULTS.md). 0: always.
   */
  parallelThreshold?: number;
  /** Ranged GETs from object stores: bytes per part and parts in flight (defaults: 8 MiB × 8). */
  download?: { partSize?: number | undefined; concurrency?: number | undefined };
  /** Bytes per range (multiple of 16; default 1 MiB on the native core's windows, 2 MiB for the pool). */
  rangeSize?: number;
  /** `node` forces the node:crypto backend; default: the native core when it loaded (docs/ENGINE.md). */
  crypto?: CryptoBackendName;
}

/**
 * Without a pool from the caller the calling thread decrypts alone: measured on the reference machine
 * (2 cores), a private pool did not beat the single loop even at 1 GiB (its thread boots in ≈0.17 s,
 * and Node's per-call output allocation makes each byte cost more on a pool thread); see
 * bench/RESULTS.md. The exception is SHA-256 verification: both digests are needed (docs/ARCHITECTURE.md §2.3),
 * and a one-thread pool that decrypts and hashes the plaintext while this thread hashes the
 * ciphertext puts them on two cores (measured ≈30 % faster at 1 GiB). With a pool the caller
 * already runs (batch), anything above a few ranges uses it.
 */
const DEFAULT_THRESHOLD_WITHOUT_POOL = Number.POSITIVE_INFINITY;
const DEFAULT_THRESHOLD_HASHING = 64 * 1024 * 1024;
const DEFAULT_RANGE_SIZE = 2 * 1024 * 1024;
/**
 * On the native core the second thread is a libuv thread running the addon's job (windows.ts):
 * nothing boots, so two threads pay from a few windows on (measured: bench/ANALYSIS.md).
 */
const DEFAULT_THRESHOLD_WINDOWS = 16 * 1024 * 1024;
const DEFAULT_RANGE_SIZE_WINDOWS = 1024 * 1024;

/**
 * Decrypts and verifies an archive; commits the sink on success, aborts it on any failure.
 *
 * @example
 * ```ts
 * const keyring = await openKeyring(['archive-private-key.pem'], { passphrase });
 * const report = await decryptArchive({ source: await openSource('archive.mp4'), password: json.password, keyring, sink: await openFileSink('out.ts') });
 * ```
 * @throws PasswordError (exit 3) when no key of the keyring opens the password; ArchiveCheckError (exit 4) with the report when a check fails; StorageError, OutputError,
 *   AbortError as they happen. The sink is aborted in every case.
 */
export async function decryptArchive(options: DecryptArchiveOptions): Promise<DecryptReport> {
  const { source, sink, signal } = options;
  const padding = options.padding ?? 'pkcs7';
  const backend = cryptoBackend(options.crypto);
  // The native core's own second thread on two cores or more (windows.ts); else the pool or this thread alone.
  const native = backend.name === 'native' && availableParallelism() > 1 ? loadNative() : undefined;
  const threshold =
    options.parallelThreshold ??
    (native ? DEFAULT_THRESHOLD_WINDOWS : options.pool ? DEFAULT_THRESHOLD_WITH_POOL : options.expectSha256 ? DEFAULT_THRESHOLD_HASHING : DEFAULT_THRESHOLD_WITHOUT_POOL);
  const rangeSize = options.rangeSize ?? (native ? DEFAULT_RANGE_SIZE_WINDOWS : DEFAULT_RANGE_SIZE);
  const checks = new ArchiveChecks(source.name, sink.name, {
    padding,
    checkMpegTs: options.checkMpegTs !== false,
    expectSha256: options.expectSha256,
    expectSize: options.expectSize,
  });
  let privatePool: DecryptPool | undefined;
  let reader: CiphertextReader | undefined;
  let info: SourceInfo | undefined;
  let archiveKey: ArchiveKey | undefined;
  try {
    if (!(threshold >= 0)) throw new UsageError('options.parallelThreshold must be a non-negative number');
    if (!Number.isSafeInteger(rangeSize) || rangeSize < BLOCK_SIZE || rangeSize % BLOCK_SIZE !== 0) {
      throw new UsageError('options.rangeSize must be a positive multiple of 16');
    }
    if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
    archiveKey = await unwrapPassword(options.password, options.keyring);
    options.onKeyUnwrapped?.({ index: archiveKey.keyIndex, label: options.keyring.keys[archiveKey.keyIndex]?.label ?? '', oaepHash: archiveKey.oaepHash });
    info = await source.stat(signal);
    const total = info.size;
    reader = await openCiphertextReader(source, { signal, info, partSize: options.download?.partSize, concurrency: options.download?.concurrency });
    try {
      checks.report.crypto = backend.name;
      const input: PipelineInput = { reader, archiveKey, backend, checks, sink, padding, signal, onProgress: options.onProgress, total };
      const parallel = threshold === 0 || (total !== undefined && total >= threshold);
      checks.report.parallel = parallel;
      if (parallel && native && total !== undefined) {
        const fd = reader.positionalFd;
        const windows = { ...input, native, rangeSize, size: total };
        // A local file of whole blocks is mapped (threads decrypt out of the mapping); a size that is not
        // whole blocks takes the reading path, which reports it.
        const wholeBlocksFd = fd !== undefined && total > 0 && total % BLOCK_SIZE === 0 ? fd : undefined;
        const mapping = wholeBlocksFd !== undefined ? mapArchive(native, wholeBlocksFd, total) : undefined;
        try {
          if (mapping && checks.hashing) await decryptHashedWindows({ ...windows, mapping });
          else if (wholeBlocksFd !== undefined && !checks.hashing) await decryptFileWindows({ ...windows, source: mapping ?? wholeBlocksFd });
          else await decryptStreamWindows(windows);
        } finally {
          if (mapping) native.unmapFile(mapping);
        }
      } else if (parallel) {
        // A private pool for hashing has one thread: only then does it run the ranges in order and can
        // hash the plaintext itself.
        const pool = options.pool ?? (privatePool = new DecryptPool(options.expectSha256 ? { threads: 1 } : {}));
        // Each thread reads its own ranges of a local file by position, unless this thread hashes every
        // ciphertext byte anyway; a size that is not whole blocks takes the reading path, which reports it.
        const fd = reader.positionalFd;
        const positional = fd !== undefined && !checks.hashing && total !== undefined && total > 0 && total % BLOCK_SIZE === 0 ? { fd, size: total } : undefined;
        await decryptParallel({ ...input, pool, rangeSize, positional });
      } else {
        await decryptSerial(input);
      }
      if (reader.verifiedChecksums.length > 0) checks.report.checks.storage = { status: 'ok', algorithms: [...reader.verifiedChecksums] };
    } finally {
      await reader.close();
    }
    if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
    const report = checks.finish();
    await sink.commit();
    return report;
  } catch (error) {
    await sink.abort();
    const report = checks.report;
    report.ok = false;
    if (reader?.checksumFailed) report.checks.storage = { status: 'failed', algorithms: Object.keys(info?.checksums ?? {}) };
    if (error instanceof ArchiveCheckError) throw error;
    report.error = error instanceof Error ? error.message : String(error);
    if (error instanceof IntegrityError) throw new ArchiveCheckError(error.message, report, { cause: error });
    if (error instanceof ArchiveCryptError) throw error;
    if ((error as Error).name === 'AbortError') throw new AbortError('cancelled; no output was kept', { cause: error });
    throw error;
  } finally {
    if (archiveKey) destroyArchiveKey(archiveKey);
    await privatePool?.destroy();
  }
}
