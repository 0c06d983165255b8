#!/usr/bin/env node
// `npm run bench`: archive-crypt against the openssl command line on the same machine, in one run.
//
// Creates its inputs in bench/work/ (gitignored): a real MPEG-TS (test/fixtures/media/sample.ts)
// repeated to BENCH_MB MiB and encrypted in Vonage's format with `openssl enc -aes-256-cbc`, a
// throwaway RSA key and the archive password wrapped for it. Every case runs BENCH_RUNS times as a
// whole process (start-up included); the table shows medians and ratios (openssl time / our time:
// above 1 means we are faster). Writes bench/RESULTS.md. Only loopback is ever contacted.
//
//   BENCH_MB=1024 BENCH_RUNS=3 npm run bench
//   BENCH_CASES=stdout,engine,file,sha256,s3,batch,rss,sealed   (default: all)
//   BENCH_OUT=bench/work/sealed.md   (where the results go; default bench/RESULTS.md)
import { spawn, spawnSync } from 'node:child_process';
import { constants, createHash, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench', 'work');
const cli = join(root, 'bin', 'archive-crypt.js');
const MiB = 1024 * 1024;
const sizeMb = Number(process.env.BENCH_MB ?? 1024);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const s3Mb = Number(process.env.BENCH_S3_MB ?? Math.min(sizeMb, 512));
const cases = new Set((process.env.BENCH_CASES ?? 'stdout,engine,file,sha256,s3,batch,rss,sealed').split(','));
const gnuTime = ['/usr/bin/time', '/bin/time'].find((p) => existsSync(p) && spawnSync(p, ['-f', '%M', 'true']).status === 0);

mkdirSync(work, { recursive: true });
const rows = [];
const notes = [];

// ---------------------------------------------------------------- inputs

/** The bench key pair (unencrypted PKCS#8, 0600): throwaway, made here, never used elsewhere. */
function benchKey() {
  const path = join(work, 'bench-key.pem');
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return path;
}

/** An archive of `mb` MiB: MPEG-TS repeated, encrypted by the openssl CLI; cached with its password. */
function makeArchive(mb) {
  const archive = join(work, `archive-${mb}.mp4`);
  const meta = join(work, `archive-${mb}.json`);
  if (existsSync(archive) && existsSync(meta)) return { archive, ...JSON.parse(readFileSync(meta, 'utf8')) };
  const sample = readFileSync(join(root, 'test', 'fixtures', 'media', 'sample.ts'));
  const plain = join(work, `plain-${mb}.mpegts`); // not .ts: eslint would try to parse it
  const target = Math.floor((mb * MiB) / 188) * 188;
  const fd = openSync(plain, 'w');
  const block = Buffer.concat(Array.from({ length: Math.ceil((8 * MiB) / sample.length) }, () => sample));
  for (let written = 0; written < target; ) {
    const n = Math.min(block.length, target - written);
    writeSync(fd, block, 0, n);
    written += n;
  }
  closeSync(fd);
  const key = randomBytes(32);
  const iv = randomBytes(16);
  run('openssl', ['enc', '-aes-256-cbc', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-in', plain, '-out', archive]);
  rmSync(plain);
  const publicKey = readFileSync(benchKey());
  const blob = Buffer.concat([Buffer.from([1, 1, 1]), key, iv]);
  const password = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, blob).toString('base64');
  const sha256 = createHash('sha256').update(readFileSync(archive)).digest('base64');
  const info = { keyHex: key.toString('hex'), ivHex: iv.toString('hex'), password, sha256, bytes: statSync(archive).size };
  writeFileSync(meta, JSON.stringify(info));
  return { archive, ...info };
}

function run(command, args) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

// ---------------------------------------------------------------- measuring

/**
 * Runs a command as a whole process and returns wall seconds and peak RSS (MB). Peak RSS comes from
 * GNU time (`%M`, the child's ru_maxrss from wait4) when present, else from polling VmHWM in
 * /proc/<pid>/status every 10 ms.
 */
function measure(command, args, { stdout = '/dev/null', env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const rssFile = join(work, `rss-${process.pid}.txt`);
    const [cmd, argv] = gnuTime ? [gnuTime, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, args];
    const out = openSync(stdout, 'w');
    const started = performance.now();
    const child = spawn(cmd, argv, { stdio: ['ignore', out, 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    let polledKb = 0;
    child.stderr.on('data', (b) => (stderr += b));
    const poll = gnuTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) polledKb = Math.max(polledKb, Number(m[1]));
          } catch {
            // exited between polls
          }
        }, 10);
    child.on('error', reject);
    child.on('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      closeSync(out);
      if (poll) clearInterval(poll);
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
      const rssKb = gnuTime ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : polledKb;
      rmSync(rssFile, { force: true });
      resolve({ seconds, rssMb: rssKb / 1024 });
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Runs each candidate `runs` times, interleaved so that background noise hits them alike. The ratio is
 * against the first candidate, or against `baseline` ({ name, seconds }: a row measured elsewhere).
 */
async function compare(label, bytes, candidates, cleanup = () => {}, baseline = undefined) {
  const samples = candidates.map(() => []);
  for (let i = 0; i < runs; i += 1) {
    for (const [j, candidate] of candidates.entries()) {
      samples[j].push(await measure(...candidate.command));
      cleanup();
    }
  }
  const baselineSeconds = baseline?.seconds ?? median(samples[0].map((s) => s.seconds));
  if (baseline) {
    const row = { case: label, tool: baseline.name, seconds: baseline.seconds, gbps: bytes / baseline.seconds / 1e9, ratio: undefined, rssMb: Number.NaN };
    rows.push(row);
    console.log(formatRow(row));
  }
  for (const [j, candidate] of candidates.entries()) {
    const seconds = median(samples[j].map((s) => s.seconds));
    const row = {
      case: label,
      tool: candidate.name,
      seconds,
      gbps: bytes / seconds / 1e9,
      ratio: j === 0 && !baseline ? undefined : baselineSeconds / seconds,
      rssMb: Math.max(...samples[j].map((s) => s.rssMb)),
      target: candidate.target,
    };
    rows.push(row);
    console.log(formatRow(row));
  }
}

function formatRow(r) {
  const ratio = r.ratio === undefined ? 'baseline' : `${r.ratio.toFixed(2)}×`;
  return `${r.case.padEnd(26)} ${r.tool.padEnd(44)} ${r.seconds.toFixed(3).padStart(7)} s ${r.gbps.toFixed(2).padStart(6)} GB/s ${ratio.padStart(9)} ${(Number.isNaN(r.rssMb) ? '—' : r.rssMb.toFixed(0)).padStart(5)} MB${r.target ? `   target ${r.target}` : ''}`;
}

const ours = (archive, password, extra) => [process.execPath, [cli, 'decrypt', archive, '--key', benchKey(), '--password', password, '--quiet', ...extra]];

// ---------------------------------------------------------------- cases

const input = makeArchive(sizeMb);
console.log(`archive: ${input.bytes} bytes (${sizeMb} MiB), ${runs} runs per case, medians; ratio = baseline (first row of each case) time / this time`);
const enc = (out) => ['openssl', ['enc', '-d', '-aes-256-cbc', '-K', input.keyHex, '-iv', input.ivHex, '-in', input.archive, '-out', out]];

if (cases.has('stdout')) {
  await compare('decrypt to /dev/null', input.bytes, [
    { name: 'openssl enc -d -aes-256-cbc > /dev/null', command: enc('/dev/stdout') },
    { name: 'archive-crypt decrypt --output - > /dev/null', command: ours(input.archive, input.password, ['--output', '-']), target: '≥ 2.0×' },
    { name: 'archive-crypt decrypt (verify only)', command: ours(input.archive, input.password, []) },
  ]);
}

if (cases.has('engine')) {
  // The engine's two pipelines through the library (same checks as the CLI, MPEG-TS on).
  const lib = (mode) => [process.execPath, [join(root, 'bench', 'decrypt-lib.js'), input.archive, input.keyHex, input.ivHex, mode]];
  await compare('engine: serial vs pool', input.bytes, [
    { name: 'openssl enc -d -aes-256-cbc > /dev/null', command: enc('/dev/stdout') },
    { name: 'library, one thread (default)', command: lib('serial') },
    { name: 'library, pool (parallelThreshold 0)', command: lib('parallel') },
  ]);
}

if (cases.has('file')) {
  const outOpenssl = join(work, 'out-openssl.ts');
  const outOurs = join(work, 'out-ours.ts');
  const cleanup = () => {
    rmSync(outOpenssl, { force: true });
    rmSync(outOurs, { force: true });
  };
  cleanup();
  await compare(
    'decrypt to a file',
    input.bytes,
    [
      { name: 'openssl enc -d -out file', command: enc(outOpenssl) },
      { name: 'archive-crypt decrypt --output file', command: ours(input.archive, input.password, ['--output', outOurs]) },
    ],
    cleanup,
  );
}

if (cases.has('sha256')) {
  await compare('SHA-256 verification', input.bytes, [
    { name: 'openssl dgst -sha256 (hash only)', command: ['openssl', ['dgst', '-sha256', input.archive]] },
    {
      name: 'archive-crypt decrypt --expect-sha256 (verify)',
      command: ours(input.archive, input.password, ['--expect-sha256', input.sha256]),
      target: '≥ 0.9×',
    },
  ]);
}

if (cases.has('s3') || cases.has('batch')) await withS3rver(async (s3) => {
  if (cases.has('s3')) await s3Case(s3);
  if (cases.has('batch')) await batchCase(s3);
});
if (cases.has('rss')) await rssCase();
if (cases.has('sealed')) await sealedCase();

/** Runs `body` with s3rver started in this process on 127.0.0.1 (a fresh folder, removed after). */
async function withS3rver(body) {
  // The AWS SDK prints a notice about future Node versions on import; it is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { default: S3rver } = await import('s3rver');
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const directory = join(work, 's3rver');
  rmSync(directory, { recursive: true, force: true });
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  // No flexible checksums: s3rver does not understand aws-chunked trailers.
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const env = {
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const s3 = {
    env,
    createBucket: (bucket) => client.send(new CreateBucketCommand({ Bucket: bucket })),
    put: (bucket, key, path) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) })),
  };
  try {
    await body(s3);
  } finally {
    client.destroy();
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function s3Case(s3) {
  const s3input = makeArchive(s3Mb);
  const key = '46372/5f6d0b2e-0000-4000-8000-0000000bench/archive.mp4';
  await s3.createBucket('bench');
  await s3.put('bench', key, s3input.archive);
  await compare(`S3 (s3rver) ${s3Mb} MiB`, s3input.bytes, [
    {
      name: 'one GetObject stream → decipher (node script)',
      command: [process.execPath, [join(root, 'bench', 'get-object.js'), 'bench', key, s3input.keyHex, s3input.ivHex], { env: s3.env }],
    },
    {
      name: 'archive-crypt decrypt s3://… --output -',
      command: [process.execPath, [cli, 'decrypt', `s3://bench/${key}`, '--key', benchKey(), '--password', s3input.password, '--quiet', '--output', '-'], { env: s3.env }],
    },
  ]);
  notes.push(
    'S3: s3rver runs inside the bench process on 127.0.0.1; it serves from disk and shares the 2 cores with the client, so this measures the client\'s overhead more than the network. The baseline is what a user would script: one GetObject stream piped through createDecipheriv.',
  );
}

/** `batch` of 32 archives (BENCH_BATCH_MB each, default 8) from s3rver, verify only: --concurrency 4 against 1. */
async function batchCase(s3) {
  const help = spawnSync(process.execPath, [cli, 'batch', '--help'], { encoding: 'utf8' });
  if (help.status !== 0) {
    notes.push('batch: skipped, the `batch` command does not exist in this build.');
    return;
  }
  const mb = Number(process.env.BENCH_BATCH_MB ?? 8);
  const one = makeArchive(mb);
  await s3.createBucket('batch');
  const items = [];
  for (let i = 0; i < 32; i += 1) {
    const id = `5f6d0b2e-0000-4000-8000-${String(i).padStart(12, '0')}`;
    await s3.put('batch', `46372/${id}/archive.mp4`, one.archive);
    items.push({ id, status: 'uploaded', password: one.password, size: one.bytes, sha256sum: one.sha256, projectId: 46372, outputMode: 'composed' });
  }
  const list = join(work, 'batch-list.json');
  writeFileSync(list, JSON.stringify({ count: items.length, items }));
  const batch = (concurrency) => [
    process.execPath,
    [cli, 'batch', '--archives', list, '--from', 's3://batch', '--api-key', '46372', '--key', benchKey(), '--verify-only', '--quiet', '--concurrency', String(concurrency)],
    { env: s3.env, stdout: '/dev/null' },
  ];
  await compare(`batch 32 × ${mb} MiB (S3)`, 32 * one.bytes, [
    { name: 'batch --concurrency 1', command: batch(1) },
    { name: 'batch --concurrency 4 (default)', command: batch(4), target: '≥ 1.7×' },
  ]);
  notes.push(
    'batch: archives verified from s3rver (in the bench process) with --verify-only; ratio = time with --concurrency 1 / time with --concurrency 4. On 2 cores `batch` runs without a decrypt pool by default (`--threads 0`): measured with `--threads 1` it was 1.13–1.20× with 240–370 MB peak RSS, i.e. no faster and ~100–230 MB heavier, because s3rver, the downloads and the pool thread compete for the same two cores.',
  );
}

async function rssCase() {
  for (const mb of [256, 2048]) {
    const a = makeArchive(mb);
    await compare(`peak RSS, ${mb} MiB`, a.bytes, [
      { name: 'openssl enc -d > /dev/null', command: ['openssl', ['enc', '-d', '-aes-256-cbc', '-K', a.keyHex, '-iv', a.ivHex, '-in', a.archive, '-out', '/dev/stdout']] },
      { name: 'archive-crypt decrypt --output - > /dev/null', command: ours(a.archive, a.password, ['--output', '-']), target: 'RSS ≤ 150 MB, flat' },
    ]);
  }
}

/**
 * The sealed format (docs/FORMAT.md): seal and unseal of the BENCH_MB input against one core's
 * HMAC-SHA256 (`openssl speed -hmac sha256 -bytes 65536`, the per-core limit of verification, measured
 * before and after the case; the faster of the two is the baseline, as the time the input would take
 * at that rate). The input is the bench archive's bytes (any bytes do); output to /dev/null.
 */
async function sealedCase() {
  const cert = join(work, 'bench-cert.pem');
  if (!existsSync(cert)) run('openssl', ['req', '-new', '-x509', '-key', benchKey(), '-subj', '/CN=archive-crypt bench', '-days', '3650', '-out', cert]);
  const sealed = join(work, `sealed-${sizeMb}.bin`);
  if (!existsSync(sealed)) run(process.execPath, [cli, 'seal', input.archive, '--to', cert, '--output', sealed, '--quiet']);
  const sealedBytes = statSync(sealed).size;
  const before = hmacSpeed();
  const seal = [process.execPath, [cli, 'seal', input.archive, '--to', cert, '--output', '-', '--quiet']];
  const unseal = (extra) => [process.execPath, [cli, 'unseal', sealed, '--key', benchKey(), '--quiet', ...extra]];
  const lib = (operation, mode) => [process.execPath, [join(root, 'bench', 'sealed-lib.js'), operation, operation === 'seal' ? input.archive : sealed, benchKey(), mode]];
  const sealRuns = [
    { name: 'archive-crypt seal --output - > /dev/null', command: seal },
    { name: 'library, one thread (parallelThreshold ∞)', command: lib('seal', 'serial') },
    { name: 'library, pool (parallelThreshold 0)', command: lib('seal', 'parallel') },
  ];
  const unsealRuns = [
    { name: 'archive-crypt unseal --output - > /dev/null', command: unseal(['--output', '-']), target: '≥ 1.5×' },
    { name: 'archive-crypt unseal (verify only)', command: unseal([]) },
    { name: 'library, one thread (parallelThreshold ∞)', command: lib('unseal', 'serial') },
    { name: 'library, pool (parallelThreshold 0)', command: lib('unseal', 'parallel') },
  ];
  // Measured once first, so that the baseline row can go first in the table.
  const samples = [];
  for (const candidate of [...sealRuns, ...unsealRuns]) samples.push(await measure(...candidate.command));
  const after = hmacSpeed();
  const rate = Math.max(before, after);
  const baseline = { name: `openssl speed -hmac sha256, one core (${(rate / 1e9).toFixed(2)} GB/s)`, seconds: sealedBytes / rate };
  await compare(`sealed: seal ${sizeMb} MiB`, input.bytes, sealRuns, () => {}, baseline);
  await compare(`sealed: unseal ${sizeMb} MiB`, sealedBytes, unsealRuns, () => {}, baseline);
  notes.push(
    `sealed: the baseline is one core's HMAC-SHA256 rate from \`openssl speed -hmac sha256 -seconds 3 -bytes 65536\` (${(before / 1e9).toFixed(2)} GB/s before the case, ${(after / 1e9).toFixed(2)} GB/s after; the faster is used) turned into the time for the sealed file's ${sealedBytes} bytes; ratio above 1 = faster than one core could only verify. Segments of 64 KiB (the default).`,
  );
  notes.push(`sealed: first runs (before the timed ones) took ${samples.map((s) => s.seconds.toFixed(2)).join(', ')} s.`);
  for (const operation of ['seal', 'unseal']) {
    for (const mode of ['serial', 'parallel']) {
      notes.push(`sealed, per-thread CPU (library ${operation}, ${mode}): ${threadCpu(operation, operation === 'seal' ? input.archive : sealed, mode)}`);
    }
  }
}

/** One core's HMAC-SHA256 rate in bytes per second, from openssl's 65536-byte column. */
function hmacSpeed() {
  const out = spawnSync('openssl', ['speed', '-hmac', 'sha256', '-seconds', '3', '-bytes', '65536'], { encoding: 'utf8' }).stdout;
  const match = /^hmac\(sha256\)\s+([\d.]+)k/m.exec(out);
  if (!match) throw new Error(`cannot parse openssl speed output: ${out}`);
  return Number(match[1]) * 1000;
}

/** Runs the library seal or unseal once with BENCH_THREAD_CPU=1 and summarises CPU seconds per thread. */
function threadCpu(operation, path, mode) {
  const result = spawnSync(process.execPath, [join(root, 'bench', 'sealed-lib.js'), operation, path, benchKey(), mode], {
    env: { ...process.env, BENCH_THREAD_CPU: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const line = result.stderr.trim().split('\n').pop() ?? '';
  try {
    const { wall, threads, poolTasks } = JSON.parse(line);
    const main = threads.find((t) => t.tid === result.pid);
    const others = threads.filter((t) => t !== main).sort((a, b) => b.cpu - a.cpu);
    const busy = others.filter((t) => t.cpu >= 0.2);
    const rest = others.filter((t) => t.cpu < 0.2).reduce((sum, t) => sum + t.cpu, 0);
    return `wall ${wall.toFixed(2)} s; main thread ${main?.cpu.toFixed(2)} s${busy.map((t) => `, pool thread ${t.cpu.toFixed(2)} s`).join('')}, other threads (libuv, V8) ${rest.toFixed(2)} s${mode === 'parallel' ? `; runs opened by the pool: ${poolTasks}` : ''}`;
  } catch {
    return `not measured (${result.stderr.trim().slice(0, 200)})`;
  }
}

// ---------------------------------------------------------------- report

writeResults();

function writeResults() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = (/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(' ');
  const cpuFlags = ['aes', 'vaes', 'pclmulqdq', 'vpclmulqdq', 'sha_ni', 'avx2', 'avx512f'].filter((f) => flags.includes(f));
  const opensslVersion = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  const load = existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : 'n/a';
  const table = [
    '| case | tool | median s | GB/s | ratio vs baseline | peak RSS MB | target |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.tool} | ${r.seconds.toFixed(3)} | ${r.gbps.toFixed(2)} | ${r.ratio === undefined ? 'baseline' : `${r.ratio.toFixed(2)}×`} | ${Number.isNaN(r.rssMb) ? '—' : r.rssMb.toFixed(0)} | ${r.target ?? ''} |`,
    ),
  ].join('\n');
  const text = `# Benchmark results

Generated by \`npm run bench\` (bench/run.js) on ${new Date().toISOString()}.

## Machine

- CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores; flags: ${cpuFlags.join(', ') || 'none of aes/sha_ni'}
- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; load average at the end: ${load}
- Node ${process.version}; ${opensslVersion}
- Peak RSS: ${gnuTime ? `GNU time \`%M\` (${gnuTime}; ru_maxrss of the child from wait4)` : 'VmHWM from /proc/<pid>/status, polled every 10 ms'}

## Command

\`\`\`sh
BENCH_MB=${sizeMb} BENCH_RUNS=${runs} BENCH_S3_MB=${s3Mb} BENCH_CASES=${[...cases].join(',')} npm run bench
\`\`\`

Whole processes, start-up included, page cache warm, ${runs} runs per case interleaved, medians. Ratio =
time of the case's baseline (its first row: openssl, or the plain alternative) / this row's time; above 1
means faster than the baseline.

## Results

${table}

${notes.map((n) => `- ${n}`).join('\n')}
`;
  const analysis = join(root, 'bench', 'ANALYSIS.md');
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'RESULTS.md');
  writeFileSync(out, existsSync(analysis) ? `${text}\n${readFileSync(analysis, 'utf8')}` : text);
  console.log(`\nwrote ${out}`);
}

