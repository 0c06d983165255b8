/**
 * The archive password options shared by `decrypt`, `reseal` and friends: exactly one of
 * `--password`, `--password-file` or `--archive-json` (with `--archive-id` for a list), the last also
 * giving the archive's expected SHA-256 and size.
 */
import type { Command } from 'commander';
import type { DecryptArchiveOptions } from '../engine/archive/decrypt.js';
import { UsageError } from '../errors.js';
import type { Padding } from '../format/opentok.js';
import type { VonageArchive } from '../vonage/archive.js';

export interface PasswordFlags {
  password?: string;
  passwordFile?: string;
  archiveJson?: string;
  archiveId?: string;
  /** Only commands that add it (decrypt): the archive fetched from the Vonage API. */
  vonageArchive?: string;
}

/** What the password options yield. */
export interface PasswordInput {
  password: string;
  archiveId?: string;
  expectSha256?: Buffer;
  expectSize?: number;
}

/** Adds the four password flags to a command. */
export function addPasswordOptions(command: Command): Command {
  return command
    .option('--password <base64>', 'the archive password (the "password" field of the archive JSON)')
    .option('--password-file <file>', 'read the archive password from this file')
    .option('--archive-json <file>', 'Vonage archive JSON: REST object, list response or callback body')
    .option('--archive-id <id>', 'which archive of a --archive-json list to use');
}

/** Checks that exactly one password source is given; call before anything is read. */
export function checkPasswordFlags(flags: PasswordFlags): void {
  const given = [flags.password, flags.passwordFile, flags.archiveJson, flags.vonageArchive].filter((value) => value !== undefined).length;
  const names = `--password, --password-file${flags.vonageArchive !== undefined ? ', --archive-json and --vonage-archive' : ' and --archive-json'}`;
  if (given !== 1) {
    throw new UsageError(given === 0 ? 'no archive password: give --password, --password-file or --archive-json' : `give only one of ${names}`);
  }
  if (flags.archiveId !== undefined && flags.archiveJson === undefined) throw new UsageError('--archive-id needs --archive-json');
}

export async function readPasswordInput(flags: PasswordFlags): Promise<PasswordInput> {
  if (flags.password !== undefined) return { password: flags.password };
  if (flags.passwordFile !== undefined) return { password: await readText(flags.passwordFile, '--password-file') };
  const path = flags.archiveJson ?? '';
  const { parseArchiveText, selectArchive } = await import('../vonage/archive.js');
  const archive = selectArchive(parseArchiveText(await readText(path, '--archive-json'), path), flags.archiveId, path);
  return archivePasswordInput(archive, `in ${path}`);
}

/** The password, expected SHA-256 and size of an archive from its JSON (`where` names its origin). */
export function archivePasswordInput(archive: VonageArchive, where: string): PasswordInput {
  if (archive.password === undefined) {
    const reason = archive.outputMode === 'individual' ? 'an individual stream archive (a ZIP file Vonage does not encrypt)' : 'not encrypted';
    throw new UsageError(`archive ${archive.id} ${where} has no "password": it is ${reason}, so there is nothing to decrypt`);
  }
  return {
    password: archive.password,
    archiveId: archive.id,
    ...(archive.sha256sum !== undefined ? { expectSha256: parseSha256(archive.sha256sum, `sha256sum of archive ${archive.id} ${where}`) } : {}),
    ...(archive.size !== undefined ? { expectSize: archive.size } : {}),
  };
}

async function readText(path: string, option: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new UsageError(`cannot read ${option} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The check flags `decrypt` and `reseal` share. */
export interface ArchiveCheckFlags {
  padding: Padding;
  mpegtsCheck: boolean;
}

/**
 * What `decrypt` and `reseal` hand the engine for one archive besides source, keys and sink: the
 * password, the checks (an `--expect-sha256` given on the command line wins over the archive JSON's
 * `sha256sum`), cancellation and progress.
 */
export function archiveDecryptOptions(
  input: PasswordInput,
  flags: ArchiveCheckFlags,
  expectOverride: Buffer | undefined,
  run: { signal: AbortSignal | undefined; onProgress: (bytes: number, total: number | undefined) => void },
): Pick<DecryptArchiveOptions, 'password' | 'padding' | 'checkMpegTs' | 'expectSha256' | 'expectSize' | 'signal' | 'onProgress'> {
  const expectSha256 = expectOverride ?? input.expectSha256;
  return {
    password: input.password,
    padding: flags.padding,
    checkMpegTs: flags.mpegtsCheck,
    ...(expectSha256 ? { expectSha256 } : {}),
    ...(input.expectSize !== undefined ? { expectSize: input.expectSize } : {}),
    ...(run.signal ? { signal: run.signal } : {}),
    onProgress: run.onProgress,
  };
}

/** A SHA-256 given as 64 hex digits or as base64 (Vonage's `sha256sum`). */
export function parseSha256(text: string, label: string): Buffer {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(value)) {
    const bytes = Buffer.from(value, 'base64');
    if (bytes.length === 32) return bytes;
  }
  throw new UsageError(`${label} is not a SHA-256: give 64 hex digits or 44 base64 characters`);
}
