/** The recipients of `seal` and `reseal`: every `--to`, else the config file's `recipients` (docs/CONFIG.md). */
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
