/**
 * `archive-crypt serve`: the HTTP server for Vonage's signed archive callbacks (docs/SERVICE.md).
 * Verifies each callback, enqueues one job per uploaded encrypted archive, and answers at once.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addServiceOptions, loadServiceConfig, serviceLogger, untilStopped, type ServiceFlags } from '../service-settings.js';

interface ServeFlags extends ServiceFlags {
  listen?: string;
}

const EXAMPLE = `
Vonage posts archive callbacks to http://<listen><service.callbackPath> (default /vonage/archive). Each
must carry a token signed with the secret in the variable named by service.callbackSecretEnv (default
VONAGE_SIGNATURE_SECRET); unsigned or forged ones get 401. For status "uploaded" with a password one job
<project>/<archiveId> is enqueued (repeats are no-ops); other statuses are acknowledged and logged.
GET /healthz answers 200 while Redis does, GET /metrics is Prometheus text. Logs are JSON lines on stdout.

Example:
  $ export VONAGE_SIGNATURE_SECRET=…
  $ archive-crypt serve --config service.json --listen 127.0.0.1:8080
  {"level":30,"component":"serve","event":"listening","url":"http://127.0.0.1:8080/vonage/archive",…}

Exit codes: 0 stopped by SIGTERM/Ctrl-C, 2 usage (bad config, no secret).
`;

export function register(program: Command, ctx: CliContext): void {
  addServiceOptions(program.command('serve').description('HTTP server for Vonage archive callbacks: verify, enqueue, answer at once'))
    .option('--listen <host:port>', 'address to listen on, overriding service.listen (default: 127.0.0.1:8080)')
    .addHelpText('after', EXAMPLE)
    .action((flags: ServeFlags) => serveCommand(ctx, flags));
}

async function serveCommand(ctx: CliContext, flags: ServeFlags): Promise<void> {
  ctx.stopEndsNormally = true;
  const config = await loadServiceConfig(ctx, flags, { listen: flags.listen });
  const secret = ctx.env[config.callbackSecretEnv] || undefined;
  if (secret === undefined && !config.allowUnsigned) {
    throw new UsageError(`set ${config.callbackSecretEnv} to the callback signature secret (or allow unsigned callbacks in service.allowUnsigned, not advised)`);
  }
  const logger = await serviceLogger(ctx, 'serve');
  if (config.allowUnsigned) {
    ctx.stderr.write('archive-crypt: warning: service.allowUnsigned is on: anyone who can reach this server can enqueue archives\n');
    logger.warn({ event: 'config', allowUnsigned: true });
  }
  const [{ openQueue }, { createCallbackServer }] = await Promise.all([import('../../service/queue.js'), import('../../service/server.js')]);
  const queue = openQueue(config, ctx.env, { failFast: true });
  const server = createCallbackServer({ config, env: ctx.env, queue, logger, secret });
  try {
    const { host, port } = await server.listen();
    logger.info({ event: 'listening', url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${config.callbackPath}`, port });
    await untilStopped(ctx);
    logger.info({ event: 'shutdown' });
  } finally {
    await server.close();
    await queue.close();
  }
}
