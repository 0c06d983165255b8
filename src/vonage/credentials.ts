/**
 * Where the Vonage credentials come from: the environment, or the `vonage` section of the config
 * file, which names an environment variable or a file for each secret. Never argv, never printed.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { assertPrivateFileMode, loadPrivateKey } from '../keys/load.js';
import type { VonageCredentials } from './token.js';

/** The `vonage` section of the config file: ids, and the *names* of where the secrets are. */
export interface VonageSettings {
  /** Legacy OpenTok project: its API key. */
  apiKey?: string;
  /** Environment variable holding the project API secret. */
  apiSecretEnv?: string;
  /** File (mode 0600) holding the project API secret. */
  apiSecretFile?: string;
  /** Vonage application: its id. */
  applicationId?: string;
  /** The application's private key file (mode 0600). */
  privateKeyFile?: string;
  /** Base URL of the Video API (default per form). */
  apiUrl?: string;
}

export interface ResolvedVonage {
  credentials: VonageCredentials;
  apiUrl?: string;
  /** What to check when Vonage refuses them (names variables and files, never values). */
  hint: string;
}

/**
 * Resolves the credentials: `VONAGE_APPLICATION_ID` + `VONAGE_PRIVATE_KEY` (a path), else
 * `VONAGE_API_KEY` + `VONAGE_API_SECRET`, else the config file's section. `VONAGE_VIDEO_API_URL`
 * overrides the config's `apiUrl`.
 *
 * @throws UsageError when none or only half of a form is given; KeyError for an unsafe or unreadable key.
 */
export async function resolveVonageCredentials(env: NodeJS.ProcessEnv, settings: VonageSettings = {}): Promise<ResolvedVonage> {
  const apiUrl = nonEmpty(env.VONAGE_VIDEO_API_URL) ?? settings.apiUrl;
  const withUrl = (resolved: Omit<ResolvedVonage, 'apiUrl'>): ResolvedVonage => (apiUrl !== undefined ? { ...resolved, apiUrl } : resolved);

  const applicationId = nonEmpty(env.VONAGE_APPLICATION_ID);
  const privateKeyPath = nonEmpty(env.VONAGE_PRIVATE_KEY);
  if (applicationId !== undefined || privateKeyPath !== undefined) {
    if (applicationId === undefined || privateKeyPath === undefined) {
      throw new UsageError('set both VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY (the path of the application private key)');
    }
    return withUrl(await application(applicationId, privateKeyPath, 'VONAGE_APPLICATION_ID and the key file in VONAGE_PRIVATE_KEY'));
  }
  const apiKey = nonEmpty(env.VONAGE_API_KEY);
  const apiSecret = nonEmpty(env.VONAGE_API_SECRET);
  if (apiKey !== undefined || apiSecret !== undefined) {
    if (apiKey === undefined || apiSecret === undefined) throw new UsageError('set both VONAGE_API_KEY and VONAGE_API_SECRET');
    return withUrl({ credentials: { kind: 'project', apiKey, apiSecret }, hint: 'VONAGE_API_KEY and VONAGE_API_SECRET (the project API key and secret)' });
  }

  if (settings.applicationId !== undefined) {
    if (settings.privateKeyFile === undefined) throw new UsageError('the config file\'s vonage.applicationId needs vonage.privateKeyFile');
    return withUrl(await application(settings.applicationId, settings.privateKeyFile, `vonage.applicationId and the key file ${settings.privateKeyFile} in the config file`));
  }
  if (settings.apiKey !== undefined) {
    const secret = await configSecret(env, settings);
    return withUrl({ credentials: { kind: 'project', apiKey: settings.apiKey, apiSecret: secret.value }, hint: `vonage.apiKey and the secret in ${secret.where}` });
  }
  throw new UsageError(
    'no Vonage credentials: set VONAGE_API_KEY and VONAGE_API_SECRET, or VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY (a key file), or the config file\'s vonage section',
  );
}

async function application(applicationId: string, keyPath: string, hint: string): Promise<Omit<ResolvedVonage, 'apiUrl'>> {
  const { key } = await loadPrivateKey(keyPath);
  return { credentials: { kind: 'application', applicationId, privateKey: key }, hint };
}

async function configSecret(env: NodeJS.ProcessEnv, settings: VonageSettings): Promise<{ value: string; where: string }> {
  if ((settings.apiSecretEnv === undefined) === (settings.apiSecretFile === undefined)) {
    throw new UsageError('the config file\'s vonage.apiKey needs exactly one of vonage.apiSecretEnv and vonage.apiSecretFile');
  }
  if (settings.apiSecretEnv !== undefined) {
    const value = nonEmpty(env[settings.apiSecretEnv]);
    if (value === undefined) throw new UsageError(`${settings.apiSecretEnv} (vonage.apiSecretEnv in the config file) is not set`);
    return { value, where: settings.apiSecretEnv };
  }
  const path = settings.apiSecretFile as string;
  // A secret file is held to the private-key rule: group or others must not read it.
  await assertPrivateFileMode(path);
  let value: string;
  try {
    value = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new UsageError(`cannot read vonage.apiSecretFile ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (value === '') throw new UsageError(`vonage.apiSecretFile ${path} is empty`);
  return { value, where: path };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
