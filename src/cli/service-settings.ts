/**
 * What the service commands (serve, worker, enqueue, queue) share: the `service` section of the
 * configuration file with flag overrides, the JSON-lines logger, and waiting for Ctrl-C/SIGTERM.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { UsageError } from '../errors.js';
import { parseServiceConfig, type ServiceConfig } from '../service/config.js';
import type { SourceOptions } from '../storage/open.js';
import type { CliContext } from './context.js';

export interface ServiceFlags {
  redisUrl?: string;
  queue?: string;
}

/** The flags every service command shares; the configuration file comes from the global `--config` (or ARCHIVE_CRYPT_CONFIG). */
export function addServiceOptions(command: Command): Command {
  return command
    .option('--redis-url <url>', 'Redis, e.g. redis://127.0.0.1:6379 (overrides service.redisUrl; no password here: service.redisPasswordEnv)')
    .option('--queue <name>', 'queue name (overrides service.queueName)');
}

/**
 * The `service` section of the configuration file (docs/SERVICE.md; absent: the built-in defaults)
 * with the flags applied.
 * @throws UsageError for a bad setting (named, with the file).
 */
export function loadServiceConfig(ctx: CliContext, flags: ServiceFlags, overrides: Record<string, unknown> = {}): ServiceConfig {
  const raw = (ctx.config as { service?: unknown }).service;
  if (raw !== undefined && (typeof raw !== 'object' || raw === null)) throw new UsageError(`service in ${ctx.configFile ?? 'the config file'} must be an object`);
  const section: Record<string, unknown> = { ...(raw as Record<string, unknown> | undefined) };
  if (flags.redisUrl !== undefined) section.redisUrl = flags.redisUrl;
  if (flags.queue !== undefined) section.queueName = flags.queue;
  for (const [name, value] of Object.entries(overrides)) if (value !== undefined) section[name] = value;
  return parseServiceConfig(section, ctx.configFile !== undefined ? `service (in ${ctx.configFile})` : 'service');
}

/** Storage options for the configured source and destination stores. */
export function serviceStorageOptions(config: ServiceConfig, ctx: CliContext): SourceOptions {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return {
    env: ctx.env,
    ...(config.s3Endpoint !== undefined || config.s3Region !== undefined
      ? { s3: { ...(config.s3Endpoint !== undefined ? { endpoint: config.s3Endpoint } : {}), ...(config.s3Region !== undefined ? { region: config.s3Region } : {}) } }
      : {}),
    ...(config.azureConnectionStringEnv !== undefined ? { azure: { connectionStringEnv: config.azureConnectionStringEnv } } : {}),
  };
}

/** JSON lines on stdout, one object per event (pino). */
export async function serviceLogger(ctx: CliContext, component: string): Promise<Logger> {
  const { pino } = await import('pino');
  return pino({ base: { component, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, ctx.stdout);
}

/** Resolves on Ctrl-C or SIGTERM (the context's signal). */
export function untilStopped(ctx: CliContext): Promise<void> {
  if (ctx.signal.aborted) return Promise.resolve();
  return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Parses a whole-number flag. */
export function parseWholeNumber(text: string, flag: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max} (got "${text}")`);
  return value;
}
