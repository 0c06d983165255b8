/**
 * The archive queue on BullMQ (Redis): one job per Vonage archive, at-least-once, with the job id
 * derived from the archive so that a repeated callback or backfill adds nothing (docs/SERVICE.md).
 */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { VonageArchive } from '../vonage/archive.js';
import type { ServiceConfig } from './config.js';

/** What a job carries: everything the worker needs besides its own keys and configuration. */
export interface ArchiveJobData {
  /** The API key (legacy project) or application id the archive belongs to. */
  project: string;
  archiveId: string;
  /** The archive password: RSA-OAEP wrapped, only the keyring can open it. Never logged. */
  password: string;
  sha256sum?: string;
  size?: number;
  /** Vonage's fallback URL, when the archive is on Vonage's cloud instead of the customer's store. */
  url?: string;
  name?: string;
}

/** The job name used for archives. */
export const archiveJobName = 'archive';

/**
 * The job id of an archive: `<project>/<archiveId>`. BullMQ refuses `:` in custom ids (it separates
 * its Redis keys), so the slash of the storage layout (`<apiKey>/<archiveId>/archive.mp4`) stands in.
 */
export function archiveJobId(project: string, archiveId: string): string {
  return `${project}/${archiveId}`;
}

/** Redis connection options from the config; the password is read from its environment variable. */
export function redisConnection(config: Pick<ServiceConfig, 'redisUrl' | 'redisPasswordEnv'>, env: NodeJS.ProcessEnv): ConnectionOptions {
  const url = new URL(config.redisUrl);
  const password = config.redisPasswordEnv !== undefined ? env[config.redisPasswordEnv] : undefined;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 6379 : Number(url.port),
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(password !== undefined && password !== '' ? { password } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's workers block on Redis; they must wait out a Redis restart instead of failing commands.
    maxRetriesPerRequest: null,
    // Reconnect quickly but not in a tight loop: 50 ms, 100 ms, … up to 2 s.
    retryStrategy: (times: number) => Math.min(times * 50, 2_000),
  };
}

/**
 * The queue for adding and inspecting jobs. `failFast` (the callback server): commands fail after one
 * retry while Redis is away instead of waiting for it, so that a callback gets a 503 (Vonage retries)
 * rather than a hanging request.
 */
export function openQueue(config: ServiceConfig, env: NodeJS.ProcessEnv, options: { failFast?: boolean } = {}): Queue<ArchiveJobData> {
  const connection = { ...redisConnection(config, env), ...(options.failFast ? { maxRetriesPerRequest: 1 } : {}) };
  return new Queue<ArchiveJobData>(config.queueName, { connection, defaultJobOptions: jobOptions(config) });
}

/** Retries with exponential backoff; finished jobs are kept a week so that repeats stay no-ops. */
export function jobOptions(config: Pick<ServiceConfig, 'attempts' | 'backoffMs'>): JobsOptions {
  return {
    attempts: config.attempts,
    backoff: { type: 'exponential', delay: config.backoffMs },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/** A Vonage archive (callback body or REST item) as job data; undefined when there is nothing to decrypt. */
export function archiveJobData(archive: VonageArchive & { url?: unknown }, project: string | undefined): ArchiveJobData | undefined {
  const owner = archive.projectId ?? project;
  if (!archive.password || owner === undefined) return undefined;
  return {
    project: owner,
    archiveId: archive.id,
    password: archive.password,
    ...(archive.sha256sum ? { sha256sum: archive.sha256sum } : {}),
    ...(archive.size !== undefined ? { size: archive.size } : {}),
    ...(typeof archive.url === 'string' && archive.url !== '' ? { url: archive.url } : {}),
    ...(archive.name ? { name: archive.name } : {}),
  };
}

/**
 * Adds archives to the queue; an archive whose job already exists (waiting, running, done or failed)
 * is left alone. Resolves with how many were new.
 */
export async function enqueueArchives(queue: Queue<ArchiveJobData>, jobs: readonly ArchiveJobData[]): Promise<{ added: number; existing: number }> {
  let added = 0;
  for (let start = 0; start < jobs.length; start += 500) {
    const batch = jobs.slice(start, start + 500);
    const ids = batch.map((job) => archiveJobId(job.project, job.archiveId));
    const before = await Promise.all(ids.map((id) => queue.getJob(id)));
    const fresh = batch.filter((_, i) => before[i] === undefined);
    await queue.addBulk(fresh.map((data) => ({ name: archiveJobName, data, opts: { jobId: archiveJobId(data.project, data.archiveId) } })));
    added += fresh.length;
  }
  return { added, existing: jobs.length - added };
}
