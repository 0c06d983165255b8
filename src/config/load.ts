/**
 * Reads and validates the configuration file (docs/CONFIG.md). Not tied to the command line: the
 * CLI and the service call the same `loadConfig`. Relative paths in the file (keys, passphrase files,
 * recipients, a folder destination, the PKCS#11 module) are resolved against the file's own folder, so
 * a file works from any working directory.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { locateConfig } from './locate.js';
import { configSchema, type ArchiveCryptConfig } from './schema.js';

export type { ArchiveCryptConfig, KeyConfig } from './schema.js';
export { configVariable } from './locate.js';

/** A loaded configuration, with the file it came from (undefined when there was none). */
export interface LoadedConfig {
  file: string | undefined;
  config: ArchiveCryptConfig;
}

/**
 * Loads `path`, else the file named by `ARCHIVE_CRYPT_CONFIG` in `env`; with neither, an empty
 * configuration. Every failure is a UsageError (exit 2) naming the file and, for a bad value, the
 * field (`keyring[1].passphraseEnv`).
 *
 * @example
 * ```ts
 * const { config } = await loadConfig(undefined, process.env);
 * const endpoint = config.storage?.s3?.endpoint;
 * ```
 */
export async function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const located = locateConfig(path, env);
  if (located === undefined) return { file: undefined, config: {} };
  const { file, origin } = located;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the config file ${file} (from ${origin}): ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { file, config: parseConfig(text, file) };
}

/** Validates configuration text; `file` names it in messages and anchors its relative paths. */
export function parseConfig(text: string, file: string): ArchiveCryptConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const result = configSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      const field = formatPath([...issue.path, issue.keys[0] ?? '']);
      throw new UsageError(`config file ${file}: unknown field ${field} (the file holds paths and variable names, never secrets: see docs/CONFIG.md)`);
    }
    const field = issue ? formatPath(issue.path) : '';
    throw new UsageError(`config file ${file}: ${field === '' ? '' : `${field}: `}${issue?.message ?? 'invalid'}`);
  }
  return resolvePaths(result.data, dirname(resolve(file)));
}

/** `keyring[1].passphraseEnv`, as a reader of the file would name the field. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
}

function resolvePaths(config: ArchiveCryptConfig, folder: string): ArchiveCryptConfig {
  const keyring = config.keyring?.map((key) => ({
    ...key,
    ...(key.path !== undefined ? { path: resolve(folder, key.path) } : {}),
    ...(key.passphraseFile !== undefined ? { passphraseFile: resolve(folder, key.passphraseFile) } : {}),
  }));
  const recipients = config.recipients?.map((path) => resolve(folder, path));
  const vonage = config.vonage && {
    ...config.vonage,
    ...(config.vonage.apiSecretFile !== undefined ? { apiSecretFile: resolve(folder, config.vonage.apiSecretFile) } : {}),
    ...(config.vonage.privateKeyFile !== undefined ? { privateKeyFile: resolve(folder, config.vonage.privateKeyFile) } : {}),
  };
  const service = config.service && {
    ...config.service,
    recipients: config.service.recipients.map((path) => resolve(folder, path)),
    keys: config.service.keys.map((key) => (key.startsWith('pkcs11:') ? key : resolve(folder, key))),
    ...(config.service.passphraseFile !== undefined ? { passphraseFile: resolve(folder, config.service.passphraseFile) } : {}),
    ...(config.service.pkcs11Module !== undefined ? { pkcs11Module: resolve(folder, config.service.pkcs11Module) } : {}),
    // A folder destination; object-store prefixes are not paths.
    ...(config.service.destination !== undefined && !/^(s3|azure):\/\//.test(config.service.destination) ? { destination: resolve(folder, config.service.destination) } : {}),
  };
  return { ...config, ...(keyring ? { keyring } : {}), ...(recipients ? { recipients } : {}), ...(vonage ? { vonage } : {}), ...(service ? { service } : {}) };
}
