// @ts-check
// The service's scale-out benchmark (docs/SERVICE.md, "Sizing workers"): archives/s and bytes/s with
// 1, 2 and 4 `archive-crypt worker` processes resealing the same set of archives, read from and
// written to the paced (remote-like) store of bench/paced-store.js, queued in a local redis-server.
// Target: ≥ 1.8× archives/s from 1 to 2 processes. Writes its own section of bench/RESULTS.md
// (between the "service" markers; the rest of the file is bench/run.js's).
//
//   npm run build && node bench/service.js
//   BENCH_SERVICE_ARCHIVES=48 BENCH_SERVICE_MB=4 BENCH_PACE_MBPS=40 BENCH_PACE_LATENCY_MS=20 BENCH_SERVICE_WORKERS=1,2,4
import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startBenchStore } from './paced-store.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'bin', 'archive-crypt.js');
const work = join(root, 'bench', 'work', 'service');
const archiveCount = Number(process.env.BENCH_SERVICE_ARCHIVES ?? 48);
const archiveMb = Number(process.env.BENCH_SERVICE_MB ?? 4);
const workerCounts = (process.env.BENCH_SERVICE_WORKERS ?? '1,2,4').split(',').map(Number);
const pace = { bytesPerSecond: Number(process.env.BENCH_PACE_MBPS ?? 40) * 1e6, firstByteLatencyMs: Number(process.env.BENCH_PACE_LATENCY_MS ?? 20) };
const project = '47000000';

const { createArchivePassword } = await import('../dist/format/opentok.js');
const { loadCertificate } = await import('../dist/keys/load.js');
const { Queue } = await import('bullmq');

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
// The example key pair (public, for trying the tool): its passphrase is in keys.example/README.md.
const key = join(work, 'key.pem');
copyFileSync(join(root, 'keys.example', 'archive-private-key.pem'), key);
chmodSync(key, 0o600);
const cert = join(root, 'keys.example', 'archive-certificate.pem');
const { publicKey } = await loadCertificate(cert);

const store = await startBenchStore({ directory: join(work, 's3rver'), paced: pace });
const redisPort = 20000 + Math.floor(Math.random() * 20000);
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });

/** @type {{ workers: number, seconds: number, archivesPerSecond: number, mbPerSecond: number }[]} */
const rows = [];
const loadBefore = loadavg()[0] ?? NaN;
try {
  await sleep(300);
  await store.createBucket('bench-source');
  // One set of archives (MPEG-TS-shaped media in Vonage's format), uploaded once.
  /** @type {{ id: string, item: Record<string, unknown> }[]} */
  const archives = [];
  const media = randomBytes(archiveMb * 1024 * 1024 - ((archiveMb * 1024 * 1024) % 188));
  for (let offset = 0; offset < media.length; offset += 188) media[offset] = 0x47;
  const file = join(work, 'archive.mp4');
  for (let i = 0; i < archiveCount; i += 1) {
    const id = randomUUID();
    const { password, key: aesKey, iv } = createArchivePassword(publicKey);
    const cipher = createCipheriv('aes-256-cbc', aesKey, iv);
    const body = Buffer.concat([cipher.update(media), cipher.final()]);
    writeFileSync(file, body);
    await store.put('bench-source', `${project}/${id}/archive.mp4`, file);
    archives.push({ id, item: { id, status: 'uploaded', projectId: project, size: body.length, sha256sum: createHash('sha256').update(body).digest('base64'), password } });
  }
  rmSync(file);
  const totalBytes = archiveCount * (media.length + 16 - (media.length % 16));

  for (const workers of workerCounts) {
    const queueName = `bench-${workers}-${randomUUID().slice(0, 8)}`;
    const destination = `bench-out-${workers}-${randomUUID().slice(0, 8)}`;
    await store.createBucket(destination);
    const config = join(work, `service-${workers}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        service: {
          redisUrl: `redis://127.0.0.1:${redisPort}`,
          queueName,
          source: 's3://bench-source',
          destination: `s3://${destination}`,
          recipients: [cert],
          keys: [key],
          passphraseEnv: 'BENCH_KEY_PASS',
          concurrency: 2,
          s3Endpoint: store.pacedEndpoint,
        },
      }),
    );
    const env = { ...process.env, ...store.pacedEnv, BENCH_KEY_PASS: 'archive-crypt example passphrase' };
    const children = Array.from({ length: workers }, () => spawn(process.execPath, [cli, 'worker', '--config', config], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
    // Each worker is ready (connected, key loaded) before the clock starts.
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve, reject) => {
            createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
              if (line.includes('"event":"ready"')) resolve(undefined);
            });
            child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
          }),
      ),
    );
    const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: redisPort } });
    const started = performance.now();
    await queue.addBulk(archives.map(({ id, item }) => ({ name: 'archive', data: { project, archiveId: id, password: item.password, sha256sum: item.sha256sum, size: item.size }, opts: { jobId: `${project}/${id}`, attempts: 1 } })));
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} jobs failed: ${(await queue.getFailed(0, 0))[0]?.failedReason}`);
      if ((counts.completed ?? 0) >= archiveCount) break;
      await sleep(20);
    }
    const seconds = (performance.now() - started) / 1000;
    rows.push({ workers, seconds, archivesPerSecond: archiveCount / seconds, mbPerSecond: totalBytes / seconds / 1e6 });
    process.stdout.write(`${workers} worker process(es): ${archiveCount} archives in ${seconds.toFixed(2)} s — ${(archiveCount / seconds).toFixed(2)} archives/s, ${(totalBytes / seconds / 1e6).toFixed(1)} MB/s\n`);
    await queue.close();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
  }
} finally {
  redis.kill('SIGTERM');
  await store.close();
  rmSync(work, { recursive: true, force: true });
}

const base = rows[0];
const two = rows.find((row) => row.workers === 2);
const ratio = base && two ? two.archivesPerSecond / base.archivesPerSecond : NaN;
const section = [
  '<!-- service:begin (written by bench/service.js; the rest of this file is bench/run.js\'s) -->',
  '## Service: worker processes against the paced store',
  '',
  `\`node bench/service.js\` on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${new Date().toISOString().slice(0, 10)}: ${archiveCount} archives of ${archiveMb} MiB, resealed from and to s3rver behind the paced proxy (${pace.bytesPerSecond / 1e6} MB/s per connection, ${pace.firstByteLatencyMs} ms to first byte), queued in a local redis-server; each worker process runs 2 jobs at a time. Load average before the run: ${loadBefore.toFixed(2)}.`,
  '',
  '| worker processes | seconds | archives/s | MB/s | × one process |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map((row) => `| ${row.workers} | ${row.seconds.toFixed(2)} | ${row.archivesPerSecond.toFixed(2)} | ${row.mbPerSecond.toFixed(1)} | ${base ? (row.archivesPerSecond / base.archivesPerSecond).toFixed(2) : '–'} |`),
  '',
  `Target ≥ 1.8× archives/s from 1 to 2 processes: ${Number.isNaN(ratio) ? 'not measured' : `${ratio.toFixed(2)}× — ${ratio >= 1.8 ? 'met' : 'missed'}`}. Not profiled yet. The likely cause: s3rver and the paced proxy run in the benchmark's own process, on the same 2 cores as the workers (and, during this session, other people's test runs), and each job is 5 store requests (report check, HEAD, GET, PUT of the sealed object, PUT of the report) of ≈20 ms each even unpaced; each job also builds fresh S3 clients (openSource/openSink per object). A remote store does not share the workers' cores. To check: profile the bench process and a worker (--cpu-prof), and share one S3 client per worker process.`,
  '<!-- service:end -->',
].join('\n');
const resultsPath = join(root, 'bench', 'RESULTS.md');
const results = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '';
const marked = /<!-- service:begin[\s\S]*?<!-- service:end -->/;
writeFileSync(resultsPath, marked.test(results) ? results.replace(marked, section) : `${results.trimEnd()}\n\n${section}\n`);
process.stdout.write(`\n${section}\n`);
