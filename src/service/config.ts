/**
 * The `service` section of the configuration file (docs/SERVICE.md): where Redis is, what the
 * workers do with an archive and where the results go. Secrets are never in it: the callback secret
 * and the key passphrase are named by environment variable (or file), like everywhere else.
 */
import { UsageError } from '../errors.js';

export type ServiceAction = 'reseal' | 'verify' | 'decrypt';

export interface ServiceConfig {
  /** `redis://[user@]host:port[/db]`; a password comes from `redisPasswordEnv`, never from here. */
  redisUrl: string;
  redisPasswordEnv?: string;
  /** BullMQ queue name (no `:`). */
  queueName: string;
  action: ServiceAction;
  /** Where Vonage uploads: `s3://bucket[/prefix]` or `azure://container[/prefix]`; the archive is `<prefix>/<project>/<archiveId>/archive.mp4`. */
  source?: string;
  /** Where results go: `s3://bucket[/prefix]`, `azure://container[/prefix]` or a folder. Required unless `action` is `verify`. */
  destination?: string;
  /** Recipient certificates (PEM) for `reseal`. */
  recipients: string[];
  /** Private keys (files or `pkcs11:` URIs), the current one first. */
  keys: string[];
  passphraseEnv?: string;
  passphraseFile?: string;
  /** Tries per job, the first included; storage/network failures only. */
  attempts: number;
  /** First retry delay; each later one doubles. */
  backoffMs: number;
  /** Accept callbacks without a token (warned about at start). Forged tokens are refused regardless. */
  allowUnsigned: boolean;
  /** Environment variable holding the callback signature secret. */
  callbackSecretEnv: string;
  /** `host:port` for `serve`; loopback by default. */
  listen: string;
  /** Path Vonage posts archive callbacks to. */
  callbackPath: string;
  /** Jobs in flight per worker process. */
  concurrency: number;
  /** How long a worker's lock on a job lasts without renewal; a dead worker's job is taken over after it. */
  lockDurationMs: number;
  /** How often workers look for jobs whose lock expired (stalled). */
  stalledIntervalMs: number;
  /** After SIGTERM: how long running jobs may finish before they are handed back to the queue. */
  graceMs: number;
  /** S3 endpoint/region and the Azure connection-string variable, for source and destination. */
  s3Endpoint?: string;
  s3Region?: string;
  azureConnectionStringEnv?: string;
}

export const serviceDefaults: Readonly<ServiceConfig> = {
  redisUrl: 'redis://127.0.0.1:6379',
  queueName: 'archive-crypt',
  action: 'reseal',
  recipients: [],
  keys: [],
  attempts: 5,
  backoffMs: 2_000,
  allowUnsigned: false,
  callbackSecretEnv: 'VONAGE_SIGNATURE_SECRET',
  listen: '127.0.0.1:8080',
  callbackPath: '/vonage/archive',
  concurrency: 1,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  graceMs: 30_000,
};

const environmentName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks the `service` section (a parsed JSON/YAML object) and fills in the defaults. Every problem
 * is a UsageError naming the setting.
 *
 * @example
 * ```ts
 * const config = parseServiceConfig({ redisUrl: 'redis://127.0.0.1:6379', destination: 's3://sealed', recipients: ['auditor.pem'], keys: ['key.pem'] });
 * ```
 */
export function parseServiceConfig(section: unknown, label = 'service'): ServiceConfig {
  if (section === undefined) section = {};
  if (typeof section !== 'object' || section === null || Array.isArray(section)) throw new UsageError(`${label} must be an object`);
  const raw = section as Record<string, unknown>;
  const known = new Set<string>(['redisUrl', 'redisPasswordEnv', 'queueName', 'action', 'source', 'destination', 'recipients', 'keys', 'passphraseEnv', 'passphraseFile', 'attempts', 'backoffMs', 'allowUnsigned', 'callbackSecretEnv', 'listen', 'callbackPath', 'concurrency', 'lockDurationMs', 'stalledIntervalMs', 'graceMs', 's3Endpoint', 's3Region', 'azureConnectionStringEnv']);
  for (const name of Object.keys(raw)) if (!known.has(name)) throw new UsageError(`${label}.${name} is not a setting (known: ${[...known].join(', ')})`);

  const text = (name: string): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw new UsageError(`${label}.${name} must be a non-empty string`);
    return value;
  };
  const variable = (name: string): string | undefined => {
    const value = text(name);
    if (value !== undefined && !environmentName.test(value)) throw new UsageError(`${label}.${name} takes the name of an environment variable, not its value`);
    return value;
  };
  const list = (name: string): string[] => {
    const value = raw[name];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) throw new UsageError(`${label}.${name} must be a list of paths`);
    return value as string[];
  };
  const count = (name: keyof ServiceConfig, min: number, max: number): number => {
    const value = raw[name] ?? serviceDefaults[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new UsageError(`${label}.${name} must be a whole number from ${min} to ${max}`);
    }
    return value;
  };

  const redisUrl = text('redisUrl') ?? serviceDefaults.redisUrl;
  let parsedRedis: URL;
  try {
    parsedRedis = new URL(redisUrl);
  } catch {
    throw new UsageError(`${label}.redisUrl must be a URL such as redis://127.0.0.1:6379`);
  }
  if (parsedRedis.protocol !== 'redis:' && parsedRedis.protocol !== 'rediss:') throw new UsageError(`${label}.redisUrl must start with redis:// or rediss://`);
  if (parsedRedis.password !== '') throw new UsageError(`${label}.redisUrl must not hold a password; name its environment variable in ${label}.redisPasswordEnv`);

  const queueName = text('queueName') ?? serviceDefaults.queueName;
  if (queueName.includes(':')) throw new UsageError(`${label}.queueName must not contain ":"`);
  const action = (text('action') ?? serviceDefaults.action) as ServiceAction;
  if (!['reseal', 'verify', 'decrypt'].includes(action)) throw new UsageError(`${label}.action must be reseal, verify or decrypt`);
  const allowUnsigned = raw.allowUnsigned ?? false;
  if (typeof allowUnsigned !== 'boolean') throw new UsageError(`${label}.allowUnsigned must be true or false`);
  const listen = text('listen') ?? serviceDefaults.listen;
  if (!/^(?:\[[0-9a-f:]+\]|[^:]+):\d{1,5}$/i.test(listen)) throw new UsageError(`${label}.listen must be host:port, e.g. 127.0.0.1:8080`);
  const callbackPath = text('callbackPath') ?? serviceDefaults.callbackPath;
  if (!callbackPath.startsWith('/')) throw new UsageError(`${label}.callbackPath must start with /`);

  const config: ServiceConfig = {
    redisUrl,
    queueName,
    action,
    recipients: list('recipients'),
    keys: list('keys'),
    attempts: count('attempts', 1, 100),
    backoffMs: count('backoffMs', 1, 3_600_000),
    allowUnsigned,
    callbackSecretEnv: variable('callbackSecretEnv') ?? serviceDefaults.callbackSecretEnv,
    listen,
    callbackPath,
    concurrency: count('concurrency', 1, 256),
    lockDurationMs: count('lockDurationMs', 100, 3_600_000),
    stalledIntervalMs: count('stalledIntervalMs', 100, 3_600_000),
    graceMs: count('graceMs', 0, 3_600_000),
  };
  const optional = {
    redisPasswordEnv: variable('redisPasswordEnv'),
    source: text('source'),
    destination: text('destination'),
    passphraseEnv: variable('passphraseEnv'),
    passphraseFile: text('passphraseFile'),
    s3Endpoint: text('s3Endpoint'),
    s3Region: text('s3Region'),
    azureConnectionStringEnv: variable('azureConnectionStringEnv'),
  };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) Object.assign(config, { [name]: value });
  return config;
}

/** What a worker additionally needs: a destination for every action but verify, recipients for reseal, keys always. */
export function assertWorkerConfig(config: ServiceConfig, label = 'service'): void {
  if (config.keys.length === 0) throw new UsageError(`${label}.keys must name at least one private key`);
  if (config.action !== 'verify' && config.destination === undefined) throw new UsageError(`${label}.destination is required for action ${config.action}`);
  if (config.action === 'reseal' && config.recipients.length === 0) throw new UsageError(`${label}.recipients must name at least one certificate for action reseal`);
}
