/**
 * `archive-crypt worker`: takes archive jobs from the queue and reseals, verifies or decrypts them into
 * the configured destination (docs/SERVICE.md). Stateless: run as many as the volume needs.
 */
import type { Command } from 'commander';
import { OutputError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addServiceOptions, loadServiceConfig, serviceLabel, serviceLogger, serviceStorageOptions, untilStopped, type ServiceFlags } from '../service-settings.js';
import { parseCount } from '../storage-options.js';

interface WorkerFlags extends ServiceFlags {
  concurrency?: string;
}

const EXAMPLE = `
For each job: the archive is read from service.source (<prefix>/<project>/<archiveId>/archive.mp4) or
Vonage's fallback URL, its password unwrapped with service.keys, every check of 'decrypt' run, and the
result written to service.destination as <project>/<archiveId>/archive.sealed (reseal, default) or
archive.ts (decrypt, only where ARCHIVE_CRYPT_PLAINTEXT_FILES allows it), with report.json beside it,
both visible only once complete. Storage failures are retried with exponential backoff (service.attempts,
service.backoffMs); key and integrity failures fail at once with their reason. SIGTERM: no new jobs,
running ones finish within service.graceMs or go back to the queue; exit 0. One JSON log line per job.

Example:
  $ export KEY_PASS=…
  $ archive-crypt worker --config service.json --concurrency 2
  {"level":30,"component":"worker","event":"job","outcome":"completed","jobId":"46372/b40e…","bytes":67872,…}

Exit codes: 0 stopped by SIGTERM/Ctrl-C, 2 usage (bad config), 3 key unusable, 6 plaintext policy.
`;

export function register(program: Command, ctx: CliContext): void {
  addServiceOptions(program.command('worker').description('take archive jobs from the queue: decrypt, check, reseal into the destination'))
    .option('--concurrency <n>', 'jobs in flight in this process, overriding service.concurrency (default: 1)')
    .addHelpText('after', EXAMPLE)
    .action((flags: WorkerFlags) => workerCommand(ctx, flags));
}

async function workerCommand(ctx: CliContext, flags: WorkerFlags): Promise<void> {
  const concurrency = flags.concurrency === undefined ? undefined : parseCount(flags.concurrency, '--concurrency', 1, 256);
  ctx.stopEndsNormally = true;
  const config = await loadServiceConfig(ctx, flags, { concurrency });
  const { assertWorkerConfig } = await import('../../service/config.js');
  assertWorkerConfig(config, serviceLabel(ctx));
  if (config.action === 'decrypt' && !ctx.plaintextFilesAllowed) {
    throw new OutputError('service.action decrypt writes plaintext, which ARCHIVE_CRYPT_PLAINTEXT_FILES=deny forbids here; use reseal', { code: 'ERR_POLICY' });
  }
  // Key files and pkcs11: URIs alike (docs/HSM.md); the passphrase or PIN from the configured variable or file.
  const [{ openKeyring }, { passphraseProvider }] = await Promise.all([import('../../keys/keyring.js'), import('../passphrase.js')]);
  const passphrase = passphraseProvider(ctx, {
    ...(config.passphraseEnv !== undefined ? { passphraseEnv: config.passphraseEnv } : {}),
    ...(config.passphraseFile !== undefined ? { passphraseFile: config.passphraseFile } : {}),
  });
  const keyring = await openKeyring(config.keys, { passphrase, pkcs11: { pin: passphrase, env: ctx.env, ...(config.pkcs11Module !== undefined ? { module: config.pkcs11Module } : {}) } });
  const { loadCertificate } = await import('../../keys/load.js');
  const recipients = [];
  for (const path of config.recipients) recipients.push((await loadCertificate(path)).publicKey);
  const [{ startArchiveWorker }, { preloadArchivePipeline }] = await Promise.all([import('../../service/worker.js'), import('../../service/process-archive.js')]);
  await preloadArchivePipeline(config);
  const logger = await serviceLogger(ctx, 'worker');
  const worker = startArchiveWorker({
    config,
    env: ctx.env,
    logger,
    process: {
      action: config.action,
      ...(config.source !== undefined ? { source: config.source } : {}),
      ...(config.destination !== undefined ? { destination: config.destination } : {}),
      recipients,
      keyring,
      storage: serviceStorageOptions(config, ctx),
    },
  });
  await Promise.race([worker.ready, untilStopped(ctx)]);
  logger.info({ event: 'ready', queue: config.queueName, action: config.action, concurrency: config.concurrency });
  await untilStopped(ctx);
  logger.info({ event: 'stopping', graceMs: config.graceMs });
  await worker.stop(config.graceMs);
  await keyring.close();
  logger.info({ event: 'stopped' });
}
