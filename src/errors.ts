/**
 * One error hierarchy for the whole toolkit. Every failure the library expects carries a stable
 * `code` (for programs) and the CLI exit code of docs/ARCHITECTURE.md §5 (for shells). Messages are one line,
 * lowercase-first, say what failed and what to do, and never contain key material.
 *
 * @example
 * ```ts
 * try { await decryptArchive(opts) } catch (e) {
 *   if (e instanceof ArchiveCryptError && e.code === 'ERR_INTEGRITY') { … }
 * }
 * ```
 */

/** Exit codes of the CLI contract (docs/ARCHITECTURE.md §5). */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  key: 3,
  integrity: 4,
  storage: 5,
  output: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_KEY'
  | 'ERR_PASSWORD'
  | 'ERR_INTEGRITY'
  | 'ERR_STORAGE'
  | 'ERR_NOT_FOUND'
  | 'ERR_ACCESS_DENIED'
  | 'ERR_OUTPUT'
  | 'ERR_POLICY'
  | 'ERR_ABORTED'
  | 'ERR_BATCH';

export abstract class ArchiveCryptError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly exitCode: ExitCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line or bad option passed to the library (exit 2). */
export class UsageError extends ArchiveCryptError {
  readonly code = 'ERR_USAGE';
  readonly exitCode = ExitCode.usage;
}

/** A key, certificate or passphrase cannot be used: wrong key, bad passphrase, unsafe file mode (exit 3). */
export class KeyError extends ArchiveCryptError {
  readonly code: 'ERR_KEY' | 'ERR_PASSWORD' = 'ERR_KEY';
  readonly exitCode = ExitCode.key;
}

/** An archive password cannot be unwrapped or is malformed (exit 3). */
export class PasswordError extends KeyError {
  override readonly code = 'ERR_PASSWORD';
}

/** The data fails a check: padding, checksum, MAC, truncation, not MPEG-TS (exit 4). */
export class IntegrityError extends ArchiveCryptError {
  readonly code = 'ERR_INTEGRITY';
  readonly exitCode = ExitCode.integrity;
}

/** Storage or network failure: not found, access denied, unreachable, retries exhausted (exit 5). */
export class StorageError extends ArchiveCryptError {
  readonly code: 'ERR_STORAGE' | 'ERR_NOT_FOUND' | 'ERR_ACCESS_DENIED';
  readonly exitCode = ExitCode.storage;

  constructor(
    message: string,
    options?: ErrorOptions & { code?: 'ERR_STORAGE' | 'ERR_NOT_FOUND' | 'ERR_ACCESS_DENIED' },
  ) {
    super(message, options);
    this.code = options?.code ?? 'ERR_STORAGE';
  }
}

/** Output refused: the file exists, or policy forbids writing plaintext to a file (exit 6). */
export class OutputError extends ArchiveCryptError {
  readonly code: 'ERR_OUTPUT' | 'ERR_POLICY';
  readonly exitCode = ExitCode.output;

  constructor(message: string, options?: ErrorOptions & { code?: 'ERR_OUTPUT' | 'ERR_POLICY' }) {
    super(message, options);
    this.code = options?.code ?? 'ERR_OUTPUT';
  }
}

/** Some archives of a batch failed; the exit code is that of the first failure (its report has them all). */
export class BatchError extends ArchiveCryptError {
  readonly code = 'ERR_BATCH';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** The operation was cancelled (Ctrl-C or an AbortSignal); nothing was left behind (exit 1). */
export class AbortError extends ArchiveCryptError {
  readonly code = 'ERR_ABORTED';
  readonly exitCode = ExitCode.unexpected;
}

const exitCodes: Record<ErrorCode, ExitCode> = {
  ERR_USAGE: ExitCode.usage,
  ERR_KEY: ExitCode.key,
  ERR_PASSWORD: ExitCode.key,
  ERR_INTEGRITY: ExitCode.integrity,
  ERR_STORAGE: ExitCode.storage,
  ERR_NOT_FOUND: ExitCode.storage,
  ERR_ACCESS_DENIED: ExitCode.storage,
  ERR_OUTPUT: ExitCode.output,
  ERR_POLICY: ExitCode.output,
  ERR_ABORTED: ExitCode.unexpected,
  ERR_BATCH: ExitCode.unexpected,
};

/** The exit code of an error code (as found in JSON reports); 1 for anything else. */
export function exitCodeOf(code: string | undefined): ExitCode {
  return (exitCodes as Record<string, ExitCode | undefined>)[code ?? ''] ?? ExitCode.unexpected;
}
