/**
 * The storage flags every command that reads archives shares (decrypt, batch, list, …), and their
 * translation into `SourceOptions`. Secrets never come from argv: S3 uses the AWS SDK's credential
 * chain, Azure a connection string read from an environment variable that the user may rename.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { SourceOptions } from '../storage/open.js';
import { byteSizeValue } from '../config/size.js';
import type { CliContext } from './context.js';

/** The parsed flags, as commander hands them to the action. */
export interface StorageFlags {
  s3Endpoint?: string;
  s3Region?: string;
  azureConnectionStringEnv?: string;
  partSize?: string;
  downloadConcurrency?: string;
  retries?: string;
  stallTimeout?: string;
  pageSize?: string;
}

/**
 * Adds the storage flags to a command; `download: false` leaves out those only object reads use,
 * `listing: true` adds those of a command that lists a store.
 *
 * @example
 * ```ts
 * addStorageOptions(program.command('decrypt <source>')).action(async (source, flags: StorageFlags & …) => {
 *   const options = storageOptionsFrom(flags, ctx);
 *   const archive = await openSource(source, options);
 * });
 * ```
 */
export function addStorageOptions(command: Command, { download = true, listing = false }: { download?: boolean; listing?: boolean } = {}): Command {
  command
    .option('--s3-endpoint <url>', 'S3-compatible endpoint, path-style (default: AWS_ENDPOINT_URL_S3, else AWS)')
    .option('--s3-region <region>', 'S3 region (default: AWS_REGION or the AWS profile)')
    .option(
      '--azure-connection-string-env <var>',
      'environment variable holding the Azure storage connection string (default: AZURE_STORAGE_CONNECTION_STRING)',
    );
  // A command that only lists (list) reads no object: the download flags would be noise in its help.
  if (download) {
    command
      .option('--part-size <size>', 'bytes per ranged GET for large objects, e.g. 8MiB (default: 8MiB)')
      .option('--download-concurrency <n>', 'ranged GETs in flight per object (default: 8)');
  }
  command.option('--retries <n>', 'retries of a failed request before giving up (default: 5)');
  if (listing) command.option('--page-size <n>', 'keys per listing request, 1–5000 (default: the most the store gives: 1000 on S3, 5000 on Azure)');
  if (download) {
    command.option(
      '--stall-timeout <duration>',
      'fail (exit 5) when a download receives under 4 KiB/s over this long, e.g. 30s, 2m; 0 turns it off (default: 60s)',
    );
  }
  return command;
}

/**
 * Turns the flags into `SourceOptions`, each flag overriding its setting in the config file
 * (docs/CONFIG.md); malformed values are UsageErrors naming the flag.
 */
export function storageOptionsFrom(flags: StorageFlags, ctx: CliContext): SourceOptions {
  // The AWS SDK warns on stderr about future Node versions; the CLI keeps stderr for its own lines.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { storage, download } = ctx.config;
  const options: SourceOptions = { env: ctx.env, stdin: ctx.stdin };
  const endpoint = flags.s3Endpoint ?? storage?.s3?.endpoint;
  const region = flags.s3Region ?? storage?.s3?.region;
  const credentials = s3CredentialsFrom(ctx);
  if (endpoint !== undefined || region !== undefined || credentials !== undefined) {
    options.s3 = {
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      ...(credentials !== undefined ? { credentials } : {}),
    };
  }
  if (flags.azureConnectionStringEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.azureConnectionStringEnv)) {
    throw new UsageError('--azure-connection-string-env takes the name of an environment variable, not the connection string itself');
  }
  const connectionStringEnv = flags.azureConnectionStringEnv ?? storage?.azure?.connectionStringEnv;
  if (connectionStringEnv !== undefined) options.azure = { connectionStringEnv };
  const partSize = flags.partSize !== undefined ? parseByteSize(flags.partSize, '--part-size', 64 * 1024, 1024 ** 3) : download?.partSize;
  const concurrency =
    flags.downloadConcurrency !== undefined ? parseCount(flags.downloadConcurrency, '--download-concurrency', 1, 64) : download?.concurrency;
  // One home: the sources opened with these options carry them to readParallel (src/storage/parallel.ts).
  if (partSize !== undefined || concurrency !== undefined) options.download = { partSize, concurrency };
  const retries = flags.retries !== undefined ? parseCount(flags.retries, '--retries', 0, 100) : download?.retries;
  const stallWindowMs =
    flags.stallTimeout !== undefined ? parseDuration(flags.stallTimeout, '--stall-timeout') : download?.stallTimeout === undefined ? undefined : download.stallTimeout * 1000;
  if (flags.pageSize !== undefined) options.listPageSize = parseCount(flags.pageSize, '--page-size', 1, 5000);
  if (retries !== undefined || stallWindowMs !== undefined) {
    options.retry = { ...(retries !== undefined ? { retries } : {}), ...(stallWindowMs !== undefined ? { stallWindowMs } : {}) };
  }
  return options;
}

/** S3 credentials from the variables the config file names; undefined leaves the AWS SDK's chain. */
function s3CredentialsFrom(ctx: CliContext): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined {
  const s3 = ctx.config.storage?.s3;
  if (s3?.accessKeyIdEnv === undefined || s3.secretAccessKeyEnv === undefined) return undefined;
  const read = (variable: string, field: string) => {
    const value = ctx.env[variable];
    if (value === undefined || value === '') {
      throw new UsageError(`environment variable ${variable} (storage.s3.${field} of ${ctx.configFile ?? 'the config file'}) is not set or empty`);
    }
    return value;
  };
  const sessionToken = s3.sessionTokenEnv === undefined ? undefined : read(s3.sessionTokenEnv, 'sessionTokenEnv');
  return {
    accessKeyId: read(s3.accessKeyIdEnv, 'accessKeyIdEnv'),
    secretAccessKey: read(s3.secretAccessKeyEnv, 'secretAccessKeyEnv'),
    ...(sessionToken !== undefined ? { sessionToken } : {}),
  };
}

/** Parses `8388608`, `8M`, `8MiB`, `512k`, `1GB` for `flag`, between `min` and `max` bytes. */
export function parseByteSize(text: string, flag: string, min: number, max: number): number {
  const value = byteSizeValue(text);
  if (value === undefined || value < min || value > max) {
    throw new UsageError(`${flag} must be a size between ${formatSize(min)} and ${formatSize(max)}, e.g. 8MiB (got "${text}")`);
  }
  return value;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, '': 1000, m: 60_000, h: 3_600_000 };

/** Parses `60`, `60s`, `500ms`, `2m`, `1h` into milliseconds (a bare number is seconds). */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  const value = match ? Math.round(Number(match[1]) * (durationUnits[(match[2] ?? '').toLowerCase()] ?? NaN)) : NaN;
  if (!Number.isSafeInteger(value) || value > 24 * 3_600_000) {
    throw new UsageError(`${flag} must be a duration such as 30s, 500ms or 2m, at most 24h (got "${text}")`);
  }
  return value;
}

/** A whole number from `min` to `max`, as typed on the command line (no "1e1", no "0x10"). */
export function parseCount(text: string, flag: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max} (got "${text}")`);
  }
  return value;
}

/** Human-readable binary size: `5.2 MiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const exponent = Math.min(4, Math.floor(Math.log(bytes) / Math.log(1024)));
  const value = bytes / 1024 ** exponent;
  return `${value >= 10 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)} ${['B', 'KiB', 'MiB', 'GiB', 'TiB'][exponent]}`;
}
