/**
 * `archive-crypt enqueue`: backfills existing archives through the service's queue, from a list file
 * or from the Vonage REST API. Archives already queued (or done) are left alone.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addServiceOptions, loadServiceConfig, type ServiceFlags } from '../service-settings.js';

interface EnqueueFlags extends ServiceFlags {
  archives: string;
  project?: string;
  apiUrl?: string;
}

const EXAMPLE = `
--archives FILE reads a Vonage list response, one archive object, or callback bodies one per line;
--archives vonage pages through the Vonage REST API (credentials as for 'archive-crypt vonage').
Only archives with a password (encrypted) and status "uploaded" or "available" are enqueued.

Examples:
  $ archive-crypt enqueue --config service.json --archives archives.json
  enqueued 1200 archives (34 already queued or done, 5 skipped: not encrypted or not uploaded)
  $ archive-crypt enqueue --config service.json --archives vonage
`;

export function register(program: Command, ctx: CliContext): void {
  addServiceOptions(program.command('enqueue').description('backfill existing archives through the service queue'))
    .requiredOption('--archives <file|vonage>', 'a JSON list of archives, or "vonage" for every archive of the project from the REST API')
    .option('--project <api-key>', 'project the archives belong to, when their JSON does not say (projectId/partnerId)')
    .option('--api-url <url>', 'Vonage Video API base URL for --archives vonage')
    .addHelpText('after', EXAMPLE)
    .action((flags: EnqueueFlags) => enqueueCommand(ctx, flags));
}

async function enqueueCommand(ctx: CliContext, flags: EnqueueFlags): Promise<void> {
  const config = await loadServiceConfig(ctx, flags);
  // The same archive sources as `batch`: a list file, or every page from the Vonage API.
  const { readBatchArchives } = await import('./vonage-batch.js');
  const { archives } = await readBatchArchives(ctx, { archives: flags.archives, ...(flags.apiUrl !== undefined ? { apiUrl: flags.apiUrl } : {}) });
  const project = flags.project;
  const { archiveJobData, enqueueArchives, openQueue } = await import('../../service/queue.js');
  const jobs = [];
  let skipped = 0;
  for (const archive of archives) {
    const job = archive.status === undefined || archive.status === 'uploaded' || archive.status === 'available' ? archiveJobData(archive, project) : undefined;
    if (job) jobs.push(job);
    else skipped += 1;
  }
  if (jobs.length === 0 && archives.some((archive) => archive.password && archive.projectId === undefined && project === undefined)) {
    throw new UsageError('the archives do not name their project: give --project API_KEY');
  }
  const queue = openQueue(config, ctx.env);
  try {
    const { added, existing } = await enqueueArchives(queue, jobs);
    ctx.stderr.write(`enqueued ${added} archives (${existing} already queued or done, ${skipped} skipped: not encrypted or not uploaded)\n`);
  } finally {
    await queue.close();
  }
}
