/** The recipients of `seal` and `reseal`: every `--to`, else the config file's `recipients` (docs/CONFIG.md). */
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { CliContext } from './context.js';

/** Adds the repeatable `--to <cert>` option. */
export function addRecipientOption(command: Command): Command {
  return command.option(
    '--to <cert>',
    "recipient X.509 certificate (PEM); repeat for more recipients (default: the config file's recipients)",
    (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
  );
}

/** The certificate paths to seal for; flags override the config file. */
export function recipientPaths(ctx: CliContext, to: readonly string[] | undefined): readonly string[] {
  const paths = to !== undefined && to.length > 0 ? to : ctx.config.recipients;
  if (paths === undefined || paths.length === 0) {
    throw new UsageError('give at least one recipient certificate with --to CERT (or "recipients" in the config file)');
  }
  return paths;
}

/** The recipients' public keys, in order; a certificate that cannot be read is a KeyError (exit 3). */
export async function loadRecipients(paths: readonly string[]): Promise<KeyObject[]> {
  const { loadCertificate } = await import('../keys/load.js');
  const keys: KeyObject[] = [];
  for (const path of paths) keys.push((await loadCertificate(path)).publicKey);
  return keys;
}
