/**
 * What the service commands (serve, worker, enqueue, queue) share: the `service` section of the
 * configuration file with flag overrides, the JSON-lines logger, and waiting for Ctrl-C/SIGTERM.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { UsageError } from '../errors.js';
import type { ServiceConfig } from '../service/config.js';
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

/** Flags that override a setting, and the setting each overrides. */
const overridingFlags = { redisUrl: '--redis-url', queueName: '--queue', listen: '--listen', concurrency: '--concurrency' } as const;

/**
 * The `service` section of the configuration file (validated by the one loader, src/config; absent:
 * the built-in defaults) with the flags applied, each checked by the same schema as its setting.
 * @throws UsageError for a bad flag value, naming the flag.
 */
export async function loadServiceConfig(ctx: CliContext, flags: ServiceFlags, overrides: { listen?: string | undefined; concurrency?: number | undefined } = {}): Promise<ServiceConfig> {
  const { serviceSchema } = await import('../config/schema.js');
  const config: ServiceConfig = ctx.config.service ?? serviceSchema.parse({});
  const given = { redisUrl: flags.redisUrl, queueName: flags.queue, ...overrides };
  const applied: Partial<ServiceConfig> = {};
  for (const name of Object.keys(overridingFlags) as (keyof typeof overridingFlags)[]) {
    const value = given[name];
    if (value === undefined) continue;
    const result = serviceSchema.shape[name].safeParse(value);
    if (!result.success) throw new UsageError(`${overridingFlags[name]} ${result.error.issues[0]?.message ?? 'is not valid'} (got "${String(value)}")`);
    Object.assign(applied, { [name]: result.data });
  }
  return { ...config, ...applied };
}

/** How the settings are named in messages: `service (in FILE)` when they came from a file. */
export function serviceLabel(ctx: CliContext): string {
  return ctx.configFile !== undefined ? `service (in ${ctx.configFile})` : 'service';
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
