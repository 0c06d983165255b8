/**
 * The service paths test/service.test.ts does not take, in process against the real Redis of the
 * global setup (or a private one that is stopped and restarted), s3rver, azurite and the Vonage REST
 * stub:
 * - `enqueue --archives vonage`: every page of the stub's archive list becomes one job, repeats none;
 * - Azure and folder destinations, through the job function (`processArchive`) that the worker process
 *   calls with its configured destination: the process adds nothing here that service.test.ts does not
 *   already cover with S3 (queueing, locks, signals), and the destination is only a sink name;
 * - `GET /healthz` of the callback server: 503 while Redis is away, 200 once it is back;
 * - the text of `queue status`, `queue failed`, `queue retry <id>` and `queue retry --all-failed`.
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { unsealArchive } from '../src/engine/sealed/unseal.js';
import { IntegrityError } from '../src/errors.js';
import { createKeyring, fileKeyHandle, type Keyring } from '../src/keys/keyring.js';
import { loadCertificate, loadPrivateKey } from '../src/keys/load.js';
import { serviceDefaults } from '../src/service/config.js';
import { processArchive, type ProcessArchiveOptions } from '../src/service/process-archive.js';
import { openQueue, type ArchiveJobData } from '../src/service/queue.js';
import { createCallbackServer } from '../src/service/server.js';
import { openSource } from '../src/storage/open.js';
import type { OutputSink } from '../src/storage/output-sink.js';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { azureOptions, azureService, createBucket, createContainer, putS3Object, s3Options, uniqueName } from './support/emulators.js';
import { startRedis } from './support/redis.js';
import { startVonageStub, type VonageStub } from './support/vonage-stub.js';
import { encryptedArchive, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const project = '46372002';
const redisPort = () => Number(new URL(inject('redisUrl')).port);

/** MPEG-TS-shaped media: 0x47 every 188 bytes, random otherwise. */
function media(packets: number): Buffer {
  const bytes = randomBytes(packets * 188);
  for (let offset = 0; offset < bytes.length; offset += 188) bytes[offset] = 0x47;
  return bytes;
}

/** A config file with only a `service` section, in its own folder. */
async function serviceConfig(service: Record<string, unknown>): Promise<string> {
  const path = join(await tempDir(), 'service.json');
  await writeFile(path, JSON.stringify({ service }));
  return path;
}

function openTestQueue(name: string): Queue<ArchiveJobData> {
  return new Queue<ArchiveJobData>(name, { connection: { host: '127.0.0.1', port: redisPort(), maxRetriesPerRequest: null } });
}

describe('enqueue --archives vonage', () => {
  const apiSecret = randomBytes(16).toString('hex');
  let stub: VonageStub;
  let env: NodeJS.ProcessEnv;
  let config: string;
  let queue: Queue<ArchiveJobData>;
  const queueName = uniqueName('enqueue');

  beforeAll(async () => {
    stub = await startVonageStub({ kind: 'project', apiKey: project, apiSecret });
    env = { VONAGE_API_KEY: project, VONAGE_API_SECRET: apiSecret, VONAGE_VIDEO_API_URL: stub.url };
    config = await serviceConfig({ redisUrl: inject('redisUrl'), queueName });
    queue = openTestQueue(queueName);
  });
  afterAll(async () => {
    await queue?.close();
    await stub?.close();
  });

  it('enqueues every encrypted, uploaded archive of the project once; a second run adds nothing', async () => {
    const stored = await encryptedArchive(randomUUID(), media(10), project);
    const fallback = await encryptedArchive(randomUUID(), media(10), project);
    const fallbackUrl = stub.serveFallback(fallback.id, fallback.body);
    stub.archives = [
      stored.item,
      { ...fallback.item, status: 'available', url: fallbackUrl },
      { ...stored.item, id: randomUUID(), password: '' },
      { ...stored.item, id: randomUUID(), status: 'failed', password: '' },
      { ...stored.item, id: randomUUID(), outputMode: 'individual', password: '' },
    ];

    const first = await runCliInProcess(['enqueue', '--config', config, '--archives', 'vonage'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe('enqueued 2 archives (0 already queued or done, 3 skipped: not encrypted or not uploaded)\n');
    const job = await queue.getJob(`${project}/${stored.id}`);
    expect(job?.data).toEqual({ project, archiveId: stored.id, password: stored.item.password, sha256sum: stored.item.sha256sum, size: stored.item.size });
    expect((await queue.getJob(`${project}/${fallback.id}`))?.data).toMatchObject({ archiveId: fallback.id, url: fallbackUrl });
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 2 });
    // The listing went through the REST API with a valid project token (the stub rejects anything else).
    const listings = stub.requests.filter((request) => request.method === 'GET' && request.path.endsWith('/archive'));
    expect(listings.length).toBeGreaterThan(0);
    expect(listings.every((request) => request.rejected === undefined)).toBe(true);

    const again = await runCliInProcess(['enqueue', '--config', config, '--archives', 'vonage'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('enqueued 0 archives (2 already queued or done, 3 skipped: not encrypted or not uploaded)\n');
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('a bad flag value is one line naming the flag, exit 2, nothing enqueued', async () => {
    const result = await runCliInProcess(['enqueue', '--config', config, '--archives', 'vonage', '--redis-url', 'http://127.0.0.1:6379'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('archive-crypt: --redis-url must start with redis:// or rediss:// (got "http://127.0.0.1:6379")\n');
    const queueColon = await runCliInProcess(['queue', 'status', '--config', config, '--queue', 'a:b'], env);
    expect(queueColon.code).toBe(2);
    expect(queueColon.stderr).toMatch(/^archive-crypt: --queue must not contain ":"/);
  });
});

describe('the job function with Azure and folder destinations', () => {
  const sourceBucket = uniqueName('svc-paths-src');
  const container = uniqueName('svc-paths-dst');
  let keyring: Keyring;
  let options: Omit<ProcessArchiveOptions, 'action' | 'destination'>;
  let folder: string;

  beforeAll(async () => {
    const dir = await tempDir();
    folder = join(dir, 'out');
    const key = await privateKeyCopy(dir);
    keyring = createKeyring([fileKeyHandle((await loadPrivateKey(key, passEnv.FIXTURE_PASS)).key, key)]);
    await createBucket(sourceBucket);
    await createContainer(container);
    options = {
      source: `s3://${sourceBucket}/vonage`,
      recipients: [(await loadCertificate(vonageFixture.certPem)).publicKey],
      keyring,
      storage: { ...s3Options(), ...azureOptions(), retry: { retries: 0 } },
    };
  });
  afterAll(() => keyring?.close());

  async function upload(content: Buffer, damage = false) {
    const archive = await encryptedArchive(randomUUID(), content, project);
    const body = Buffer.from(archive.body);
    if (damage) body[body.length - 40] = (body[body.length - 40] ?? 0) ^ 1;
    await putS3Object(sourceBucket, `vonage/${project}/${archive.id}/archive.mp4`, body);
    return { project, archiveId: archive.id, password: String(archive.item.password), sha256sum: createHash('sha256').update(archive.body).digest('base64'), size: body.length };
  }

  async function unsealedFrom(name: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const sink: OutputSink = { name: 'memory', write: (chunk) => Promise.resolve(void chunks.push(Buffer.from(chunk))), commit: () => Promise.resolve(), abort: () => Promise.resolve() };
    const source = await openSource(name, azureOptions());
    try {
      await unsealArchive({ source, keyring, sink });
    } finally {
      await source.close?.();
    }
    return Buffer.concat(chunks);
  }

  const blobsUnder = async (prefix: string) => {
    const names: string[] = [];
    for await (const blob of azureService().getContainerClient(container).listBlobsFlat({ prefix })) names.push(blob.name);
    return names.sort();
  };

  it('reseal into azure://container/prefix: the sealed blob unseals to the media, the report is beside it, a rerun is already-done', async () => {
    const content = media(300);
    const job = await upload(content);
    const destination = `azure://${container}/sealed`;
    const outcome = await processArchive(job, { ...options, action: 'reseal', destination });
    const base = `azure://${container}/sealed/${project}/${job.archiveId}`;
    expect(outcome).toMatchObject({ result: 'done', output: `${base}/archive.sealed`, report: `${base}/report.json`, bytes: job.size });
    expect((await unsealedFrom(`${base}/archive.sealed`)).equals(content)).toBe(true);
    const report = JSON.parse((await azureService().getContainerClient(container).getBlockBlobClient(`sealed/${project}/${job.archiveId}/report.json`).downloadToBuffer()).toString('utf8')) as Record<string, unknown>;
    expect(report).toMatchObject({ project, archiveId: job.archiveId, action: 'reseal', result: 'done', output: `${base}/archive.sealed` });
    expect(await processArchive(job, { ...options, action: 'reseal', destination })).toMatchObject({ result: 'already-done', bytes: 0 });
  });

  it('a damaged archive into Azure: integrity failure, no blob committed for it', async () => {
    const job = await upload(media(300), true);
    await expect(processArchive(job, { ...options, action: 'reseal', destination: `azure://${container}/sealed` })).rejects.toThrow(IntegrityError);
    expect(await blobsUnder(`sealed/${project}/${job.archiveId}/`)).toEqual([]);
  });

  it('decrypt into a folder: the media (0600) and the report beside it; a damaged archive leaves nothing for it', async () => {
    const content = media(200);
    const job = await upload(content);
    const outcome = await processArchive(job, { ...options, action: 'decrypt', destination: folder });
    const archiveFolder = join(folder, project, job.archiveId);
    expect(outcome).toMatchObject({ result: 'done', output: join(archiveFolder, 'archive.ts'), report: join(archiveFolder, 'report.json') });
    expect((await readFile(join(archiveFolder, 'archive.ts'))).equals(content)).toBe(true);
    expect((await stat(join(archiveFolder, 'archive.ts'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(archiveFolder, 'report.json'), 'utf8'))).toMatchObject({ archiveId: job.archiveId, action: 'decrypt', result: 'done' });

    const damaged = await upload(media(200), true);
    await expect(processArchive(damaged, { ...options, action: 'decrypt', destination: folder })).rejects.toThrow(IntegrityError);
    const left = await readdir(join(folder, project, damaged.archiveId)).catch(() => []);
    expect(left).toEqual([]);
  });
});

describe('GET /healthz follows Redis', () => {
  it('200 while Redis answers, 503 while it is stopped, 200 again once it is back', async () => {
    const redis = await startRedis();
    const config = { ...serviceDefaults(), redisUrl: redis.url, queueName: uniqueName('health'), listen: '127.0.0.1:0' };
    const queue = openQueue(config, {}, { failFast: true });
    const server = createCallbackServer({ config, env: {}, queue, logger: pino({ level: 'silent' }), secret: 'unused' });
    try {
      const { port } = await server.listen();
      const health = async () => {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        return { status: response.status, body: (await response.json()) };
      };
      expect(await health()).toEqual({ status: 200, body: { ok: true, redis: 'ok' } });
      await redis.stop();
      expect(await health()).toEqual({ status: 503, body: { ok: false, redis: 'unreachable' } });
      await redis.start();
      // The client reconnects on its own schedule (50 ms, 100 ms, … up to 2 s) and bullmq exposes no
      // event for it: ask until the answer changes (the suite timeout is the only limit).
      let answer = await health();
      while (answer.status !== 200) {
        expect(answer).toEqual({ status: 503, body: { ok: false, redis: 'unreachable' } });
        await new Promise((resolve) => setTimeout(resolve, 50));
        answer = await health();
      }
      expect(answer).toEqual({ status: 200, body: { ok: true, redis: 'ok' } });
    } finally {
      await server.close();
      await queue.close();
      await redis.close();
    }
  });
});

describe('queue status, failed and retry', () => {
  it('print the counts, each failed job with its reason, and put failed jobs back', async () => {
    const queueName = uniqueName('queue-cli');
    const config = await serviceConfig({ redisUrl: inject('redisUrl'), queueName });
    const queue = openTestQueue(queueName);
    const ids = [`${project}/${randomUUID()}`, `${project}/${randomUUID()}`];
    const reasons = ['ERR_INTEGRITY: sha256 mismatch: the archive does not match its sha256sum', 'ERR_KEY: no key in the keyring opens this archive password'];
    // A worker of this test fails each job at once with the reason the service's worker would give.
    const worker = new Worker<ArchiveJobData>(queueName, (job) => Promise.reject(new UnrecoverableError(reasons[ids.indexOf(job.id ?? '')])), {
      connection: { host: '127.0.0.1', port: redisPort(), maxRetriesPerRequest: null },
      autorun: false,
    });
    let failures = 0;
    const allFailed = new Promise<void>((resolve) => {
      worker.on('failed', () => {
        failures += 1;
        if (failures === ids.length) resolve();
      });
    });
    try {
      for (const id of ids) await queue.add('archive', { project, archiveId: id.split('/')[1] ?? '', password: 'wrapped' }, { jobId: id, attempts: 3 });
      void worker.run();
      await allFailed;
      await worker.close();

      const status = await runCliInProcess(['queue', 'status', '--config', config]);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toBe('waiting 0  active 0  delayed 0  completed 0  failed 2\n');

      const failed = await runCliInProcess(['queue', 'failed', '--config', config]);
      expect(failed.code, failed.stderr).toBe(0);
      expect(failed.stdout.split('\n').filter(Boolean).sort()).toEqual(ids.map((id, i) => `${id}  attempt 1  ${reasons[i]}`).sort());
      const json = await runCliInProcess(['queue', 'failed', '--json', '--config', config]);
      expect((JSON.parse(json.stdout) as { jobId: string; reason: string }[]).map((row) => [row.jobId, row.reason]).sort()).toEqual(ids.map((id, i) => [id, reasons[i]]).sort());

      const neither = await runCliInProcess(['queue', 'retry', '--config', config]);
      expect(neither).toMatchObject({ code: 2, stderr: 'archive-crypt: give one job id or --all-failed\n' });
      const unknown = await runCliInProcess(['queue', 'retry', `${project}/not-a-job`, '--config', config]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe(`archive-crypt: no job ${project}/not-a-job in the queue (see 'archive-crypt queue failed')\n`);

      const one = await runCliInProcess(['queue', 'retry', ids[0] ?? '', '--config', config]);
      expect(one).toMatchObject({ code: 0, stderr: `retrying ${ids[0]}\n` });
      expect(await queue.getJobCounts('waiting', 'failed')).toEqual({ waiting: 1, failed: 1 });
      const notFailed = await runCliInProcess(['queue', 'retry', ids[0] ?? '', '--config', config]);
      expect(notFailed.code).toBe(2);
      expect(notFailed.stderr).toBe(`archive-crypt: job ${ids[0]} has not failed (it is waiting)\n`);

      const all = await runCliInProcess(['queue', 'retry', '--all-failed', '--config', config]);
      expect(all).toMatchObject({ code: 0, stderr: 'retrying 1 failed job\n' });
      expect(await queue.getJobCounts('waiting', 'failed')).toEqual({ waiting: 2, failed: 0 });
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
