/**
 * `archive-crypt queue status | failed | retry`: what the service's queue holds, what failed and why,
 * and putting failed jobs back.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addServiceOptions, loadServiceConfig, type ServiceFlags } from '../service-settings.js';

interface QueueFlags extends ServiceFlags {
  json?: boolean;
  allFailed?: boolean;
}

const EXAMPLE = `
Examples:
  $ archive-crypt queue status --config service.json
  waiting 12  active 4  delayed 1  completed 1180  failed 3
  $ archive-crypt queue failed --config service.json
  46372/0c3a…  attempt 1  ERR_INTEGRITY: sha256 mismatch: …
  $ archive-crypt queue retry 46372/0c3a… --config service.json
  $ archive-crypt queue retry --all-failed --config service.json
`;

export function register(program: Command, ctx: CliContext): void {
  const queue = program.command('queue').description('inspect the service queue and retry failed jobs').addHelpText('after', EXAMPLE);
  addServiceOptions(queue.command('status').description('jobs waiting, running, delayed, done and failed'))
    .option('--json', 'print the counts as JSON')
    .action((flags: QueueFlags) => withQueue(ctx, flags, (q) => status(ctx, q, flags)));
  addServiceOptions(queue.command('failed').description('failed jobs with their reason (newest first, up to 1000)'))
    .option('--json', 'print the jobs as JSON')
    .action((flags: QueueFlags) => withQueue(ctx, flags, (q) => failed(ctx, q, flags)));
  addServiceOptions(queue.command('retry').description('put a failed job (or every failed job) back in the queue'))
    .argument('[job-id]', 'the job id, <project>/<archiveId>')
    .option('--all-failed', 'retry every failed job')
    .action((jobId: string | undefined, flags: QueueFlags) => withQueue(ctx, flags, (q) => retry(ctx, q, jobId, flags)));
}

type ArchiveQueue = import('bullmq').Queue<import('../../service/queue.js').ArchiveJobData>;

async function withQueue(ctx: CliContext, flags: QueueFlags, work: (queue: ArchiveQueue) => Promise<void>): Promise<void> {
  const config = await loadServiceConfig(ctx, flags);
  const { openQueue } = await import('../../service/queue.js');
  const queue = openQueue(config, ctx.env);
  try {
    await work(queue);
  } finally {
    await queue.close();
  }
}

async function status(ctx: CliContext, queue: ArchiveQueue, flags: QueueFlags): Promise<void> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children');
  if (flags.json) ctx.stdout.write(`${JSON.stringify(counts)}\n`);
  else ctx.stdout.write(`${['waiting', 'active', 'delayed', 'completed', 'failed'].map((state) => `${state} ${counts[state] ?? 0}`).join('  ')}\n`);
}

async function failed(ctx: CliContext, queue: ArchiveQueue, flags: QueueFlags): Promise<void> {
  const jobs = await queue.getFailed(0, 999);
  const rows = jobs.map((job) => ({ jobId: job.id, archiveId: job.data.archiveId, project: job.data.project, attempts: job.attemptsMade, reason: job.failedReason, finishedOn: job.finishedOn }));
  if (flags.json) ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else for (const row of rows) ctx.stdout.write(`${row.jobId}  attempt ${row.attempts}  ${row.reason}\n`);
}

async function retry(ctx: CliContext, queue: ArchiveQueue, jobId: string | undefined, flags: QueueFlags): Promise<void> {
  if ((jobId === undefined) === !flags.allFailed) throw new UsageError('give one job id or --all-failed');
  if (flags.allFailed) {
    const count = (await queue.getJobCounts('failed')).failed ?? 0;
    await queue.retryJobs({ state: 'failed' });
    ctx.stderr.write(`retrying ${count} failed job${count === 1 ? '' : 's'}\n`);
    return;
  }
  const job = await queue.getJob(jobId ?? '');
  if (!job) throw new UsageError(`no job ${jobId} in the queue (see 'archive-crypt queue failed')`);
  if (!(await job.isFailed())) throw new UsageError(`job ${jobId} has not failed (it is ${await job.getState()})`);
  await job.retry('failed');
  ctx.stderr.write(`retrying ${jobId}\n`);
}
