// @ts-check
// The service's scale-out benchmark (docs/SERVICE.md, "Sizing workers"): archives/s and bytes/s with
// 1, 2 and 4 `archive-crypt worker` processes resealing the same set of archives, read from and
// written to the paced (remote-like) store of bench/paced-store.js, queued in a local redis-server.
// Target: ≥ 1.8× archives/s from 1 to 2 processes. Writes its own section of bench/RESULTS.md
// (between the "service" markers; the rest of the file is bench/run.js's).
//
// The store is s3rver and the paced proxy, each in a process of its own (bench/store-process.js).
// Its pace is its own (not bench/run.js's BENCH_PACE_*): a job is I/O-bound against a remote store,
// and on a 2-core machine that also runs the store, the pace must leave the store's and the workers'
// CPU well below the I/O time per archive, or the row measures the machine (bench/ANALYSIS.md, "Service").
//
//   npm run build && node bench/service.js        (or BENCH_CASES=service npm run bench)
//   BENCH_SERVICE_ARCHIVES=48 BENCH_SERVICE_MB=2 BENCH_SERVICE_PACE_MBPS=20 BENCH_SERVICE_LATENCY_MS=100
//   BENCH_SERVICE_WORKERS=1,2,4 BENCH_SERVICE_CONCURRENCY=2 BENCH_SERVICE_STORE=process|inprocess
//   BENCH_SERVICE_PROFILE=<dir> (a --cpu-prof per worker process)
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
const archiveMb = Number(process.env.BENCH_SERVICE_MB ?? 2);
const concurrency = Number(process.env.BENCH_SERVICE_CONCURRENCY ?? 2);
const workerCounts = (process.env.BENCH_SERVICE_WORKERS ?? '1,2,4').split(',').map(Number);
const pace = { bytesPerSecond: Number(process.env.BENCH_SERVICE_PACE_MBPS ?? 20) * 1e6, firstByteLatencyMs: Number(process.env.BENCH_SERVICE_LATENCY_MS ?? 100) };
const project = '47000000';
// BENCH_SERVICE_PROFILE=<dir>: each worker process writes a --cpu-prof profile there (analysis only).
const profileArgs = process.env.BENCH_SERVICE_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_SERVICE_PROFILE] : [];

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

// The store: s3rver and the paced proxy each in a process of their own (default), or both on this
// process's event loop (BENCH_SERVICE_STORE=inprocess, how the first runs measured: see bench/ANALYSIS.md).
const storeMode = process.env.BENCH_SERVICE_STORE ?? 'process';
const store = storeMode === 'inprocess' ? { ...(await startBenchStore({ directory: join(work, 's3rver'), paced: pace })), pids: /** @type {(number | undefined)[]} */ ([]) } : await startStoreProcesses(join(work, 's3rver'));
/** @type {(number | undefined)[]} */
const storePids = store.pids;
const redisPort = 20000 + Math.floor(Math.random() * 20000);
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });

/** @type {{ workers: number, seconds: number, archivesPerSecond: number, mbPerSecond: number, cpu: { workers: number, store: number, redis: number }, load: number }[]} */
const rows = [];
const ticks = 100; // USER_HZ on Linux
/** CPU seconds (user + system) a live process has used so far, from /proc. @param {number | undefined} pid */
const cpuOf = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  } catch {
    return Number.NaN;
  }
};
const ownCpu = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1e6; };
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
          concurrency,
          s3Endpoint: store.pacedEndpoint,
        },
      }),
    );
    const env = { ...process.env, ...store.pacedEnv, BENCH_KEY_PASS: 'archive-crypt example passphrase' };
    /** @type {number[]} */
    const jobSeconds = [];
    const children = Array.from({ length: workers }, () => spawn(process.execPath, [...profileArgs, cli, 'worker', '--config', config], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
    // Each worker is ready (connected, key loaded) before the clock starts.
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve, reject) => {
            createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
              if (line.includes('"event":"ready"')) resolve(undefined);
              if (line.includes('"outcome":"completed"')) jobSeconds.push(JSON.parse(line).seconds);
            });
            child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
          }),
      ),
    );
    const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: redisPort } });
    const workerCpuBefore = children.map((child) => cpuOf(child.pid));
    const benchCpuBefore = ownCpu();
    const storeCpuBefore = storePids.map(cpuOf);
    const redisCpuBefore = cpuOf(redis.pid);
    const started = performance.now();
    await queue.addBulk(archives.map(({ id, item }) => ({ name: 'archive', data: { project, archiveId: id, password: item.password, sha256sum: item.sha256sum, size: item.size }, opts: { jobId: `${project}/${id}`, attempts: 1 } })));
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} jobs failed: ${(await queue.getFailed(0, 0))[0]?.failedReason}`);
      if ((counts.completed ?? 0) >= archiveCount) break;
      await sleep(20);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = {
      workers: children.reduce((sum, child, i) => sum + cpuOf(child.pid) - (workerCpuBefore[i] ?? 0), 0),
      store: ownCpu() - benchCpuBefore + storePids.reduce((/** @type {number} */ sum, pid, i) => sum + cpuOf(pid) - (storeCpuBefore[i] ?? 0), 0),
      redis: cpuOf(redis.pid) - redisCpuBefore,
    };
    process.stdout.write(`  cpu s: workers ${cpu.workers.toFixed(2)}, store (s3rver + proxy, ${storeMode}) ${cpu.store.toFixed(2)}, redis ${cpu.redis.toFixed(2)}; wall ${seconds.toFixed(2)}; load ${loadavg()[0]?.toFixed(1)}\n  job seconds: first ${jobSeconds.slice(0, workers * 2).map((x) => x.toFixed(2)).join(' ')}; median ${[...jobSeconds].sort((a, b) => a - b)[Math.floor(jobSeconds.length / 2)]?.toFixed(2)}; sum ${jobSeconds.reduce((a, b) => a + b, 0).toFixed(1)} over ${workers * 2} slots\n`);
    rows.push({ workers, seconds, archivesPerSecond: archiveCount / seconds, mbPerSecond: totalBytes / seconds / 1e6, cpu, load: loadavg()[0] ?? NaN });
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
const perArchive = (/** @type {number} */ cpuSeconds) => `${((cpuSeconds / archiveCount) * 1000).toFixed(0)}`;
const section = [
  '<!-- service:begin (written by bench/service.js; the rest of this file is bench/run.js\'s) -->',
  '## Service: worker processes against the paced store',
  '',
  `\`node bench/service.js\` on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${archiveCount} archives of ${archiveMb} MiB, resealed from and to s3rver behind the paced proxy (${pace.bytesPerSecond / 1e6} MB/s per connection, ${pace.firstByteLatencyMs} ms to first byte; store ${storeMode === 'inprocess' ? 'on the benchmark\'s event loop' : 'and proxy each in a process of their own'}), queued in a local redis-server; each worker process runs ${concurrency} jobs at a time. Load average before the run: ${loadBefore.toFixed(2)}. CPU columns: milliseconds of CPU per archive (user + system, from /proc).`,
  '',
  '| worker processes | seconds | archives/s | MB/s | × one process | CPU ms/archive: workers | store | redis | load after |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((row) => `| ${row.workers} | ${row.seconds.toFixed(2)} | ${row.archivesPerSecond.toFixed(2)} | ${row.mbPerSecond.toFixed(1)} | ${base ? (row.archivesPerSecond / base.archivesPerSecond).toFixed(2) : '–'} | ${perArchive(row.cpu.workers)} | ${perArchive(row.cpu.store)} | ${perArchive(row.cpu.redis)} | ${row.load.toFixed(1)} |`),
  '',
  `Target ≥ 1.8× archives/s from 1 to 2 processes: ${Number.isNaN(ratio) ? 'not measured' : `${ratio.toFixed(2)}× — ${ratio >= 1.8 ? 'met' : 'missed'}`}. Where the time goes, and why the pace is what it is: bench/ANALYSIS.md, "Service".`,
  '<!-- service:end -->',
].join('\n');
const resultsPath = join(root, 'bench', 'RESULTS.md');
const results = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '';
const marked = /<!-- service:begin[\s\S]*?<!-- service:end -->/;
writeFileSync(resultsPath, marked.test(results) ? results.replace(marked, section) : `${results.trimEnd()}\n\n${section}\n`);
process.stdout.write(`\n${section}\n`);

/**
 * s3rver and the paced proxy as two child processes (bench/store-process.js); uploads of the inputs
 * go straight to s3rver, the workers go through the proxy.
 * @param {string} directory
 */
async function startStoreProcesses(directory) {
  const script = join(root, 'bench', 'store-process.js');
  /** @param {string[]} args @returns {Promise<{ child: import('node:child_process').ChildProcess, url: string }>} */
  const start = (args) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).once('line', (line) => resolve({ child, url: JSON.parse(line).url }));
      child.once('exit', (code) => reject(new Error(`store process ${args[0]} exited with ${code}`)));
    });
  const s3rver = await start(['s3rver', directory]);
  const proxy = await start(['proxy', s3rver.url, String(pace.bytesPerSecond), String(pace.firstByteLatencyMs)]);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  // No flexible checksums: s3rver does not understand aws-chunked trailers.
  const client = new S3Client({ endpoint: s3rver.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  return {
    pids: [s3rver.child.pid, proxy.child.pid],
    pacedEndpoint: proxy.url,
    pacedEnv: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: proxy.url, AWS_EC2_METADATA_DISABLED: 'true' },
    /** @param {string} bucket */
    createBucket: (bucket) => client.send(new CreateBucketCommand({ Bucket: bucket })),
    /** @param {string} bucket @param {string} key @param {string} path */
    put: (bucket, key, path) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) })),
    async close() {
      client.destroy();
      for (const { child } of [proxy, s3rver]) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
