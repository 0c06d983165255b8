/**
 * The service end to end with real processes: one `serve`, three `worker`s, a private real Redis
 * (persistent, so that it can be stopped and restarted mid-run), s3rver as both the store Vonage
 * uploads to and the destination. Callbacks are signed here with node:crypto's HMAC (not jose, which
 * the server verifies with). Outputs are checked by unsealing them with the library.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { unsealArchive } from '../src/engine/sealed/unseal.js';
import { createKeyring, fileKeyHandle, type Keyring } from '../src/keys/keyring.js';
import { loadPrivateKey } from '../src/keys/load.js';
import type { OutputSink } from '../src/engine/output.js';
import { openSource } from '../src/storage/open.js';
import { cliPath, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3AdminClient, s3Env, s3Options, uniqueName } from './support/emulators.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startRedis, type RedisProcess } from './support/redis.js';
import { encryptedArchive, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const project = '46372001';
const secret = randomBytes(24).toString('base64');
const sourceBucket = uniqueName('svc-src');
const destinationBucket = uniqueName('svc-dst');

interface LogLine {
  event?: string;
  outcome?: string;
  jobId?: string;
  port?: number;
  reason?: string;
  pid?: number;
}

/** A CLI process whose stdout JSON lines are collected. */
class ServiceProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: { test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  constructor(
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly child: ChildProcess = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  ) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((waiter) => (waiter.test(line) ? (waiter.resolve(line), false) : true));
    });
    child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** The first line (seen or to come) that passes `test`; fails if the process exits first. */
  waitFor(test: (line: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return Promise.race([
      new Promise<LogLine>((resolve) => this.waiters.push({ test, resolve })),
      this.exited.then((code) => Promise.reject(new Error(`process exited with ${code}: ${this.stderr}`))),
    ]);
  }
}

function signedToken(body: string, key = secret, lifetimeSeconds = 300): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { iat: now - 10, exp: now + lifetimeSeconds, payload_hash: createHash('sha256').update(body).digest('hex') };
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

/** MPEG-TS-shaped media: 0x47 every 188 bytes, random otherwise. */
function media(packets: number): Buffer {
  const bytes = randomBytes(packets * 188);
  for (let offset = 0; offset < bytes.length; offset += 188) bytes[offset] = 0x47;
  return bytes;
}

async function objectExists(bucket: string, key: string): Promise<boolean> {
  try {
    await s3AdminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** Polls until `condition` holds (no timing assertion: the suite timeout is the only limit). */
async function eventually(condition: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('archive service: serve + workers + Redis + object stores', () => {
  let redis: RedisProcess;
  let proxy: FaultProxy;
  let server: ServiceProcess;
  let workers: ServiceProcess[] = [];
  let queue: Queue;
  let callbackUrl: string;
  let configPath: string;
  let env: NodeJS.ProcessEnv;
  let key: string;
  /** Object keys whose first download stalls (the SIGKILL test). */
  const stallOnce = new Set<string>();
  const queueName = uniqueName('archives');

  beforeAll(async () => {
    const dir = await tempDir();
    key = await privateKeyCopy(dir);
    redis = await startRedis({ persistent: true });
    await createBucket(sourceBucket);
    await createBucket(destinationBucket);
    proxy = await startFaultProxy(inject('s3Endpoint'), ({ method, url }) => {
      for (const stalled of stallOnce) {
        if (method === 'GET' && url.includes(stalled)) {
          stallOnce.delete(stalled);
          return { kind: 'stall', afterBytes: 0 };
        }
      }
      return undefined;
    });
    configPath = join(dir, 'service.json');
    await writeFile(
      configPath,
      JSON.stringify({
        service: {
          redisUrl: redis.url,
          queueName,
          action: 'reseal',
          source: `s3://${sourceBucket}`,
          destination: `s3://${destinationBucket}/sealed`,
          recipients: [vonageFixture.certPem],
          keys: [key],
          passphraseEnv: 'FIXTURE_PASS',
          attempts: 3,
          backoffMs: 20,
          callbackSecretEnv: 'TEST_CALLBACK_SECRET',
          listen: '127.0.0.1:0',
          concurrency: 4,
          // Long enough to ride out the Redis restart; a SIGKILLed worker's job is taken over after it.
          lockDurationMs: 4_000,
          stalledIntervalMs: 300,
          graceMs: 2_000,
          s3Endpoint: proxy.url,
        },
      }),
    );
    env = { ...passEnv, ...s3Env(), TEST_CALLBACK_SECRET: secret };
    server = new ServiceProcess(['serve', '--config', configPath], env);
    const listening = await server.waitFor((line) => line.event === 'listening');
    callbackUrl = `http://127.0.0.1:${listening.port}/vonage/archive`;
    workers = [0, 1, 2].map(() => new ServiceProcess(['worker', '--config', configPath], env));
    await Promise.all(workers.map((worker) => worker.waitFor((line) => line.event === 'ready')));
    queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } });
  }, 60_000);

  afterAll(async () => {
    for (const process of [server, ...workers]) process?.child.kill('SIGKILL');
    await queue?.close();
    await proxy?.close();
    await redis?.close();
  });

  const post = (body: string, authorization?: string) =>
    fetch(callbackUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(authorization ? { authorization: `Bearer ${authorization}` } : {}) } });

  async function uploadArchive(packets = 40): Promise<{ id: string; media: Buffer; callback: string }> {
    const content = media(packets);
    const archive = await encryptedArchive(randomUUID(), content, project);
    await putS3Object(sourceBucket, `${project}/${archive.id}/archive.mp4`, archive.body);
    return { id: archive.id, media: content, callback: JSON.stringify(archive.item) };
  }

  const completions = (jobId: string) => workers.flatMap((worker) => worker.lines).filter((line) => line.jobId === jobId && line.outcome === 'completed').length;

  let keyring: Keyring | undefined;
  async function unsealed(archiveId: string): Promise<Buffer> {
    // Decrypting the key file (PBKDF2) once, not per archive.
    keyring ??= createKeyring([fileKeyHandle((await loadPrivateKey(key, passEnv.FIXTURE_PASS)).key, key)]);
    const chunks: Buffer[] = [];
    const sink: OutputSink = {
      name: 'memory',
      write: (chunk) => Promise.resolve(void chunks.push(Buffer.from(chunk))),
      commit: () => Promise.resolve(),
      abort: () => Promise.resolve(),
    };
    const source = await openSource(`s3://${destinationBucket}/sealed/${project}/${archiveId}/archive.sealed`, s3Options());
    await unsealArchive({ source, keyring, sink });
    return Buffer.concat(chunks);
  }

  it('refuses unsigned, expired and wrong-secret callbacks with 401 and enqueues nothing', async () => {
    const archive = await uploadArchive();
    const refused = [
      await post(archive.callback),
      await post(archive.callback, signedToken(archive.callback, secret, -120)),
      await post(archive.callback, signedToken(archive.callback, 'not-the-secret')),
      await post(archive.callback, signedToken(archive.callback.replace(archive.id, randomUUID()))),
    ];
    expect(refused.map((response) => response.status)).toEqual([401, 401, 401, 401]);
    expect(await queue.getJob(`${project}/${archive.id}`)).toBeUndefined();
    const health = await fetch(callbackUrl.replace('/vonage/archive', '/healthz'));
    expect(health.status).toBe(200);
    const metrics = await (await fetch(callbackUrl.replace('/vonage/archive', '/metrics'))).text();
    expect(metrics).toMatch(/^archive_crypt_callbacks_total\{outcome="unauthorized"\} 4$/m);
    expect(metrics).toMatch(/^archive_crypt_jobs\{state="waiting"\} \d+$/m);
  });

  it('acknowledges other statuses without a job; the same callback three times makes one job and one output', async () => {
    const started = JSON.stringify({ id: randomUUID(), status: 'started', projectId: project });
    const ack = await post(started, signedToken(started));
    expect(ack.status).toBe(200);
    expect(await ack.json()).toEqual({ acknowledged: true, enqueued: false });

    const archive = await uploadArchive();
    const jobId = `${project}/${archive.id}`;
    const answers = [];
    for (let i = 0; i < 3; i += 1) answers.push(await post(archive.callback, signedToken(archive.callback)));
    expect(answers.map((response) => response.status)).toEqual([202, 202, 202]);
    await eventually(async () => (await queue.getJob(jobId))?.finishedOn !== undefined);
    for (let i = 0; i < 2; i += 1) expect((await post(archive.callback, signedToken(archive.callback))).status).toBe(202);
    await eventually(() => completions(jobId) > 0);
    expect(completions(jobId)).toBe(1);
    expect((await unsealed(archive.id)).equals(archive.media)).toBe(true);
    expect(await objectExists(destinationBucket, `sealed/${project}/${archive.id}/report.json`)).toBe(true);
  });

  // 60 keep all 3 workers (4 jobs each at a time) busy before, during and after the Redis restart at
  // 20 finished; 200 proved nothing more and took 13 s of the suite's 70.
  const manyArchives = 60;
  it(`${manyArchives} archives through signed callbacks across 3 workers, Redis restarted mid-run: each resealed once, each unseals to its media`, async () => {
    const archives = await Promise.all(Array.from({ length: manyArchives }, () => uploadArchive(8)));
    const finishedCount = async () => {
      const counts = await queue.getJobCounts('completed', 'failed');
      return (counts.completed ?? 0) + (counts.failed ?? 0);
    };
    const before = await finishedCount();
    for (const archive of archives) expect((await post(archive.callback, signedToken(archive.callback))).status).toBe(202);
    // Stop Redis while the workers are busy, then bring it back (with its append-only file).
    await eventually(async () => (await finishedCount()) >= before + 20);
    // Mid-run indeed: jobs are still unfinished when Redis goes away.
    expect(await finishedCount()).toBeLessThan(before + archives.length);
    await redis.stop();
    await redis.start();
    // Done means finished either way: a failed job must fail the assertions below, not hang the test.
    await eventually(async () => (await finishedCount()) >= before + archives.length);
    await eventually(() => archives.every((archive) => completions(`${project}/${archive.id}`) > 0));
    for (const archive of archives) expect(completions(`${project}/${archive.id}`)).toBe(1);
    const busyWorkers = workers.filter((worker) => worker.lines.some((line) => line.outcome === 'completed'));
    expect(busyWorkers.length).toBe(3);
    for (const archive of archives) expect((await unsealed(archive.id)).equals(archive.media)).toBe(true);
  }, 150_000);

  it('a damaged archive fails at once with an integrity reason; a missing one is retried, then fails', async () => {
    const archive = await encryptedArchive(randomUUID(), media(20), project);
    const damaged = Buffer.from(archive.body);
    damaged[100] = (damaged[100] ?? 0) ^ 1;
    await putS3Object(sourceBucket, `${project}/${archive.id}/archive.mp4`, damaged);
    const damagedCallback = JSON.stringify(archive.item);
    const missing = await encryptedArchive(randomUUID(), media(20), project);
    const missingCallback = JSON.stringify(missing.item);
    expect((await post(damagedCallback, signedToken(damagedCallback))).status).toBe(202);
    expect((await post(missingCallback, signedToken(missingCallback))).status).toBe(202);

    await eventually(async () => (await queue.getJob(`${project}/${archive.id}`))?.finishedOn !== undefined);
    const failed = await queue.getJob(`${project}/${archive.id}`);
    expect(await failed?.getState()).toBe('failed');
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/^ERR_INTEGRITY: /);

    await eventually(async () => (await queue.getJob(`${project}/${missing.id}`))?.finishedOn !== undefined);
    const gone = await queue.getJob(`${project}/${missing.id}`);
    expect(await gone?.getState()).toBe('failed');
    expect(gone?.attemptsMade).toBe(3);
    expect(gone?.failedReason).toMatch(/^ERR_NOT_FOUND: /);
    expect(await objectExists(destinationBucket, `sealed/${project}/${archive.id}/archive.sealed`)).toBe(false);
  });

  it('SIGKILL of a worker mid-archive: another worker finishes it, nothing half-written is visible', async () => {
    const content = media(400);
    const archive = await encryptedArchive(randomUUID(), content, project);
    const objectKey = `${project}/${archive.id}/archive.mp4`;
    await putS3Object(sourceBucket, objectKey, archive.body);
    stallOnce.add(archive.id);
    const callback = JSON.stringify(archive.item);
    const jobId = `${project}/${archive.id}`;
    expect((await post(callback, signedToken(callback))).status).toBe(202);
    // The worker that took the job is stuck in its download (the proxy stalls it).
    await eventually(() => proxy.injected.stall > 0);
    const holds = (worker: ServiceProcess) => worker.lines.some((line) => line.jobId === jobId && line.outcome === 'started');
    await eventually(() => workers.some(holds));
    const holder = workers.find(holds);
    expect(await objectExists(destinationBucket, `sealed/${jobId}/archive.sealed`)).toBe(false);
    holder!.child.kill('SIGKILL');
    await holder!.exited;
    const others = workers.filter((worker) => worker !== holder);
    await eventually(() => others.some((worker) => worker.lines.some((line) => line.jobId === jobId && line.outcome === 'completed')));
    expect((await unsealed(archive.id)).equals(content)).toBe(true);
    workers = others;
  });

  it('SIGTERM mid-archive: the worker hands the job back after the grace period and exits 0; another finishes it', async () => {
    const content = media(100);
    const archive = await encryptedArchive(randomUUID(), content, project);
    await putS3Object(sourceBucket, `${project}/${archive.id}/archive.mp4`, archive.body);
    stallOnce.add(archive.id);
    const stallsBefore = proxy.injected.stall;
    const callback = JSON.stringify(archive.item);
    const jobId = `${project}/${archive.id}`;
    expect((await post(callback, signedToken(callback))).status).toBe(202);
    await eventually(() => proxy.injected.stall > stallsBefore);
    const holds = (worker: ServiceProcess) => worker.lines.some((line) => line.jobId === jobId && line.outcome === 'started');
    await eventually(() => workers.some(holds));
    const holder = workers.find(holds)!;
    holder.child.kill('SIGTERM');
    expect(await holder.exited).toBe(0);
    expect(holder.lines.find((line) => line.event === 'shutdown')).toMatchObject({ handedBack: 1 });
    expect(holder.lines.some((line) => line.jobId === jobId && (line.outcome === 'completed' || line.outcome === 'failed'))).toBe(false);
    const others = workers.filter((worker) => worker !== holder);
    await eventually(() => others.some((worker) => worker.lines.some((line) => line.jobId === jobId && line.outcome === 'completed')));
    expect((await queue.getJob(jobId))?.attemptsMade).toBe(1);
    expect((await unsealed(archive.id)).equals(content)).toBe(true);
    workers = others;
  });

  it('queue status and queue failed report what happened', async () => {
    // In process: these commands only talk to Redis, a child process adds nothing (test/service-paths.test.ts has their text output).
    const run = async (args: string[]) => {
      const result = await runCliInProcess(['queue', ...args, '--config', configPath], env);
      return { code: result.code, out: result.stdout };
    };
    const status = await run(['status', '--json']);
    expect(status.code).toBe(0);
    const counts = JSON.parse(status.out) as Record<string, number>;
    expect(counts.failed).toBe(2);
    expect(counts.completed).toBe(manyArchives + 3);
    const failed = await run(['failed', '--json']);
    const reasons = (JSON.parse(failed.out) as { reason: string }[]).map((row) => row.reason.split(':')[0]).sort();
    expect(reasons).toEqual(['ERR_INTEGRITY', 'ERR_NOT_FOUND']);
  });
});
