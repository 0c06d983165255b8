/**
 * The `service` section of the configuration file (docs/SERVICE.md, docs/CONFIG.md): where Redis is,
 * what the workers do with an archive and where the results go. Its schema lives with the others in
 * src/config/schema.ts and is read by the same loader; secrets are never in it (the callback secret,
 * the Redis password and the key passphrase are named by environment variable or file).
 */
import { serviceSchema, type ServiceConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';

export type { ServiceConfig } from '../config/schema.js';
export type ServiceAction = ServiceConfig['action'];

/** The settings of a configuration file without a `service` section. */
export function serviceDefaults(): ServiceConfig {
  return serviceSchema.parse({});
}

/** What a worker additionally needs: a destination for every action but verify, recipients for reseal, keys always. */
export function assertWorkerConfig(config: ServiceConfig, label = 'service'): void {
  if (config.keys.length === 0) throw new UsageError(`${label}.keys must name at least one private key`);
  if (config.action !== 'verify' && config.destination === undefined) throw new UsageError(`${label}.destination is required for action ${config.action}`);
  if (config.action === 'reseal' && config.recipients.length === 0) throw new UsageError(`${label}.recipients must name at least one certificate for action reseal`);
}
