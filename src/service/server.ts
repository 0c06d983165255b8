/**
 * The callback server: Vonage posts an archive callback, we verify its token, enqueue one job for an
 * uploaded encrypted archive, and answer at once (the work is the workers'). `GET /healthz` says
 * whether Redis answers; `GET /metrics` is Prometheus text from prom-client (docs/SERVICE.md).
 */
import { QueueEvents, type Queue } from 'bullmq';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { verifyCallbackToken } from '../vonage/callback.js';
import { parseArchiveList } from '../vonage/archive.js';
import type { ServiceConfig } from './config.js';
import { archiveJobData, archiveJobId, archiveJobName, redisConnection, type ArchiveJobData } from './queue.js';
import type { ArchiveOutcome } from './process-archive.js';

export interface CallbackServerOptions {
  config: ServiceConfig;
  env: NodeJS.ProcessEnv;
  queue: Queue<ArchiveJobData>;
  logger: Logger;
  /** The signature secret; undefined only when `config.allowUnsigned`. */
  secret: string | undefined;
}

export interface CallbackServer {
  server: Server;
  /** The address actually bound (port 0 picks one). */
  listen(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

/** Vonage's callbacks are small JSON documents; anything bigger is not one. */
const maxBodyBytes = 1024 * 1024;

export function createCallbackServer(options: CallbackServerOptions): CallbackServer {
  const { config, queue, logger } = options;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const callbacks = new Counter({ name: 'archive_crypt_callbacks_total', help: 'Archive callbacks received, by outcome', labelNames: ['outcome'] as const, registers: [registry] });
  new Gauge({
    name: 'archive_crypt_jobs',
    help: 'Archive jobs in the queue, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  const archiveBytes = new Histogram({ name: 'archive_crypt_archive_bytes', help: 'Encrypted bytes per processed archive', buckets: [1e6, 1e7, 1e8, 1e9, 1e10], registers: [registry] });
  const archiveSeconds = new Histogram({ name: 'archive_crypt_archive_seconds', help: 'Seconds per processed archive', buckets: [0.1, 1, 5, 30, 120, 600], registers: [registry] });
  // Workers report bytes and seconds as their job's return value; the server observes them here.
  const events = new QueueEvents(config.queueName, { connection: redisConnection(config, options.env) });
  events.on('completed', ({ returnvalue }) => {
    const outcome = (typeof returnvalue === 'string' ? safeJson(returnvalue) : returnvalue) as Partial<ArchiveOutcome> | undefined;
    if (outcome?.result !== 'done') return;
    if (typeof outcome.bytes === 'number') archiveBytes.observe(outcome.bytes);
    if (typeof outcome.seconds === 'number') archiveSeconds.observe(outcome.seconds);
  });
  events.on('error', () => undefined); // reconnects on its own; /healthz tells
  queue.on('error', (error: Error) => logger.warn({ event: 'redis', reason: error.message }));

  const answer = (response: ServerResponse, status: number, body: object | string, type = 'application/json') => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    response.end(typeof body === 'string' ? body : `${JSON.stringify(body)}\n`);
  };

  const onCallback = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request);
    if (body === undefined) {
      callbacks.inc({ outcome: 'too-large' });
      return answer(response, 413, { error: 'body too large' });
    }
    const authorization = request.headers.authorization;
    if (authorization !== undefined || !config.allowUnsigned) {
      try {
        if (options.secret === undefined) throw new Error('no secret');
        await verifyCallbackToken(authorization, options.secret, { body });
      } catch (error) {
        callbacks.inc({ outcome: 'unauthorized' });
        logger.warn({ event: 'callback', outcome: 'unauthorized', reason: error instanceof Error ? error.message : 'invalid token', remote: request.socket.remoteAddress });
        return answer(response, 401, { error: 'unauthorized' });
      }
    }
    let archive;
    try {
      const [parsed] = parseArchiveList(JSON.parse(body.toString('utf8')));
      archive = parsed;
    } catch {
      archive = undefined;
    }
    if (archive === undefined) {
      callbacks.inc({ outcome: 'malformed' });
      return answer(response, 400, { error: 'not an archive callback' });
    }
    const job = archive.status === 'uploaded' ? archiveJobData(archive, undefined) : undefined;
    if (job === undefined) {
      callbacks.inc({ outcome: 'ignored' });
      logger.info({ event: 'callback', outcome: 'ignored', archiveId: archive.id, status: archive.status, encrypted: Boolean(archive.password) });
      return answer(response, 200, { acknowledged: true, enqueued: false });
    }
    const jobId = archiveJobId(job.project, job.archiveId);
    // An existing id makes add() a no-op: Vonage's retries of one callback run the archive once.
    await queue.add(archiveJobName, job, { jobId });
    callbacks.inc({ outcome: 'enqueued' });
    logger.info({ event: 'callback', outcome: 'enqueued', jobId, archiveId: job.archiveId, project: job.project });
    return answer(response, 202, { acknowledged: true, enqueued: true, jobId });
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const handle = async () => {
      if (request.method === 'POST' && path === config.callbackPath) return onCallback(request, response);
      if (request.method === 'GET' && path === '/healthz') {
        // Any round trip proves Redis answers; commands wait out reconnects, so a timeout decides.
        let timer: NodeJS.Timeout | undefined;
        const reached = await Promise.race([
          queue.getJobCounts('waiting').then(() => true),
          new Promise<false>((resolve) => (timer = setTimeout(resolve, 1_000, false))),
        ]).catch(() => false);
        clearTimeout(timer);
        return reached ? answer(response, 200, { ok: true, redis: 'ok' }) : answer(response, 503, { ok: false, redis: 'unreachable' });
      }
      if (request.method === 'GET' && path === '/metrics') return answer(response, 200, await registry.metrics(), registry.contentType);
      return answer(response, 404, { error: 'not found' });
    };
    handle().catch((error: unknown) => {
      // Redis down while enqueuing: 503 makes Vonage retry the callback later.
      logger.error({ event: 'http', path, reason: error instanceof Error ? error.message : String(error) });
      if (!response.headersSent) answer(response, 503, { error: 'temporarily unavailable' });
    });
  });

  return {
    server,
    listen() {
      const [host, port] = splitListen(config.listen);
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address();
          resolve({ host, port: typeof address === 'object' && address ? address.port : port });
        });
      });
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // QueueEvents.close() never settles when called while its connection is reconnecting (bullmq
      // 6.7.0; Redis down at shutdown, test/service-paths.test.ts): bounded, so that serve still exits.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([events.close(), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
    },
  };
}

function splitListen(listen: string): [string, number] {
  const colon = listen.lastIndexOf(':');
  return [listen.slice(0, colon).replace(/^\[|\]$/g, ''), Number(listen.slice(colon + 1))];
}

function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        resolve(undefined);
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
