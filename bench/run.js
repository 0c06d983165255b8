#!/usr/bin/env node
// @ts-check
// `npm run bench`: every row of issue 9's targets table, as ratios against a baseline measured in the
// same run — whole processes (start-up included), page cache warm, BENCH_RUNS rounds in which every
// candidate of a case runs once (A B C A B C …), the ratio being the median of the rounds' ratios.
//
// Creates its inputs in bench/work/ (gitignored): a real MPEG-TS (test/fixtures/media/sample.ts)
// repeated to the size wanted and encrypted in Vonage's format by `openssl enc -aes-256-cbc`, a
// throwaway RSA key and the archive password wrapped for it. Object-store rows read s3rver on
// 127.0.0.1 through the paced proxy (bench/paced-proxy.js). Writes bench/RESULTS.md (this run's
// table, then bench/ANALYSIS.md). Only loopback is ever contacted.
//
//   BENCH_MB=1024          size of the main archive (MiB)
//   BENCH_RUNS=5           rounds per case (medians); start-up runs 4× as many
//   BENCH_CASES=stdout,floor,sha256,sealed,file,startup,rss,paced,batch,service   (default: all; service is
//                          bench/service.js, which writes its own section of the results)
//   BENCH_PACED_MB=128     archive read from the paced store
//   BENCH_BATCH_MB=4       each of the 32 batch archives
//   BENCH_PACE_MBPS=40     per-connection cap of the paced store (MB/s); BENCH_PACE_LATENCY_MS=20
//   BENCH_STORE=process    s3rver and the paced proxy each in a process of their own; `inprocess`: both
//                          on the bench's own event loop (as before 2026-12-02)
//   BENCH_PROFILE=0        skip the per-thread CPU and --cpu-prof pass over the rows that miss
//   BENCH_OUT=…            where the results go (default bench/RESULTS.md)
import { spawnSync } from 'node:child_process';
import { constants, createHash, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gnuTime, measure, median, profileRun, summariseProfiles } from './measure.js';
import { startBenchStore } from './paced-store.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench', 'work');
const cli = join(root, 'bin', 'archive-crypt.js');
const MiB = 1024 * 1024;
const sizeMb = Number(process.env.BENCH_MB ?? 1024);
const runs = Number(process.env.BENCH_RUNS ?? 5);
const pacedMb = Number(process.env.BENCH_PACED_MB ?? 128);
const batchMb = Number(process.env.BENCH_BATCH_MB ?? 4);
const pace = { bytesPerSecond: Number(process.env.BENCH_PACE_MBPS ?? 40) * 1e6, firstByteLatencyMs: Number(process.env.BENCH_PACE_LATENCY_MS ?? 20) };
const allCases = ['stdout', 'floor', 'sha256', 'sealed', 'file', 'startup', 'rss', 'paced', 'batch', 'service'];
const cases = new Set((process.env.BENCH_CASES ?? allCases.join(',')).split(','));
const profiling = process.env.BENCH_PROFILE !== '0';
/** @type {Record<string, string>} */
const native = {};
/** @type {Record<string, string>} */
const fallback = { ARCHIVE_CRYPT_NATIVE: '0' };

/**
 * The fallback's bar: ratios of the last run before the native engine (node:crypto only), from
 * bench/RESULTS.md of 2026-11-27 (1 GiB, 3 runs, load ≈1.8) and issue 9 for start-up.
 */
const before = {
  stdout: 0.59,
  verify: 0.61,
  sha256: 0.48,
  file: 0.44, // against openssl enc -d -out FILE without sync: the new baseline (with sync) is slower, so this bar is lenient to no one
  seal: 0.57,
  unseal: 0.54,
  version: 1.62,
};

mkdirSync(work, { recursive: true });
/** @type {Row[]} */
const rows = [];
/** @type {string[]} */
const notes = [];
/** @type {string[]} */
const profiles = [];
const startedAt = new Date();
const loadAtStart = loadAverage();

/**
 * @typedef {import('./measure.js').Command} Command
 * @typedef {Awaited<ReturnType<typeof startBenchStore>>} BenchStore
 * @typedef {{ text: string, met: (ratio: number, rssMb: number) => boolean }} Target
 * @typedef {object} Candidate
 * @property {string} name
 * @property {Command} [command] a process to time
 * @property {() => number} [rateSeconds] or a synthetic baseline: seconds the case's bytes take at a measured rate
 * @property {Target} [target]
 * @typedef {object} Row
 * @property {string} case
 * @property {string} tool
 * @property {number} seconds median
 * @property {number} spread (max − min) / median
 * @property {number} gbps
 * @property {number | undefined} ratio median of the rounds' ratios; undefined for the baseline
 * @property {'speed' | 'time'} ratioKind speed: baseline time / this time (above 1 = faster); time: this time / baseline time
 * @property {number} rssMb max over the runs
 * @property {number} cpuSeconds median user + system CPU
 * @property {string} load 1-minute load average when the case started
 * @property {Target} [target]
 * @property {boolean | undefined} met
 * @property {Command} [command]
 */

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

/**
 * An archive of `mb` MiB: MPEG-TS repeated, encrypted by the openssl CLI; cached with its password.
 * @param {number} mb
 * @returns {{ archive: string, keyHex: string, ivHex: string, password: string, sha256: string, bytes: number }}
 */
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
  const sha256 = spawnSync('openssl', ['dgst', '-sha256', '-binary', archive]).stdout.toString('base64');
  const info = { keyHex: key.toString('hex'), ivHex: iv.toString('hex'), password, sha256, bytes: statSync(archive).size };
  writeFileSync(meta, JSON.stringify(info));
  return { archive, ...info };
}

/** @param {string} command @param {string[]} args */
function run(command, args) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

/** @param {string[]} args @param {Record<string, string>} [env] @returns {Command} */
const ours = (args, env = {}) => ({ file: process.execPath, args: [cli, ...args], env });

/** @param {{ archive: string, password: string }} a @param {string[]} extra @param {Record<string, string>} env */
const decrypt = (a, extra, env) => ours(['decrypt', a.archive, '--key', benchKey(), '--password', a.password, '--quiet', ...extra], env);

/** @param {{ archive: string, keyHex: string, ivHex: string }} a @param {string} out @returns {Command} */
const opensslDecrypt = (a, out) => ({ file: 'openssl', args: ['enc', '-d', '-aes-256-cbc', '-K', a.keyHex, '-iv', a.ivHex, '-in', a.archive, '-out', out] });

/** @param {number} ratio @param {string} [why] @returns {Target} */
const atLeast = (ratio, why = '') => ({ text: `≥ ${ratio.toFixed(2)}×${why}`, met: (r) => r >= ratio });

// ---------------------------------------------------------------- measuring

/** @returns {string} */
function loadAverage() {
  return existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : 'n/a';
}

/**
 * Runs each candidate once per round for `rounds` rounds (A B C A B C …), so that background load
 * hits them alike; each round gives every candidate a ratio against that round's baseline (the first
 * candidate), and the row reports the median of those ratios.
 *
 * @param {string} label
 * @param {number} bytes what the case processes (for GB/s)
 * @param {Candidate[]} candidates
 * @param {{ rounds?: number, cleanup?: () => void, ratioKind?: 'speed' | 'time' }} [options]
 */
async function compare(label, bytes, candidates, { rounds = runs, cleanup = () => {}, ratioKind = 'speed' } = {}) {
  const load = loadAverage().split(' ')[0] ?? 'n/a';
  /** @type {import('./measure.js').Sample[][]} */
  const samples = candidates.map(() => []);
  for (let round = 0; round < rounds; round += 1) {
    for (const [j, candidate] of candidates.entries()) {
      if (candidate.command) samples[j]?.push(await measure(candidate.command, work));
      else if (candidate.rateSeconds) samples[j]?.push({ seconds: candidate.rateSeconds(), rssMb: Number.NaN, cpuSeconds: Number.NaN });
      cleanup();
    }
  }
  const baseline = samples[0] ?? [];
  for (const [j, candidate] of candidates.entries()) {
    const mine = samples[j] ?? [];
    const seconds = median(mine.map((s) => s.seconds));
    const ratios = mine.map((s, round) => {
      const base = baseline[round]?.seconds ?? Number.NaN;
      return ratioKind === 'speed' ? base / s.seconds : s.seconds / base;
    });
    const ratio = j === 0 ? undefined : median(ratios);
    const rssMb = Math.max(...mine.map((s) => s.rssMb));
    /** @type {Row} */
    const row = {
      case: label,
      tool: candidate.name,
      seconds,
      spread: (Math.max(...mine.map((s) => s.seconds)) - Math.min(...mine.map((s) => s.seconds))) / seconds,
      gbps: bytes / seconds / 1e9,
      ratio,
      ratioKind,
      rssMb,
      cpuSeconds: median(mine.map((s) => s.cpuSeconds)),
      load,
      ...(candidate.target ? { target: candidate.target } : {}),
      met: candidate.target ? candidate.target.met(ratio ?? Number.NaN, rssMb) : undefined,
      ...(candidate.command ? { command: candidate.command } : {}),
    };
    rows.push(row);
    console.log(formatRow(row));
  }
  writeResults(); // after every case, so that an interrupted run still leaves its rows
  // Where the time goes, while the case's servers are still up: one profiled run per missed row.
  if (profiling) {
    for (const row of rows.slice(-candidates.length)) {
      if (row.met === false && row.command?.file === process.execPath) await profile(row, row.command, cleanup);
    }
  }
}

/**
 * One extra run of a row that missed its target, with CPU per thread and a --cpu-prof summary.
 * @param {Row} row @param {Command} command @param {() => void} cleanup
 */
async function profile(row, command, cleanup) {
  const slug = `${row.case}-${row.tool}`.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const dir = join(work, 'profiles', slug);
  try {
    const { wall, threads } = await profileRun(command, dir);
    const perThread = threads
      .filter(([, cpu]) => cpu >= 0.01)
      .map(([name, cpu]) => `${name} ${cpu.toFixed(2)} s`)
      .join(', ');
    const summary = summariseProfiles(dir)
      .sort((x, y) => y.totalMs - x.totalMs)
      .map((p) => `  - JavaScript thread, ${p.totalMs.toFixed(0)} ms sampled: ${p.entries.map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`).join('; ')}`)
      .join('\n');
    profiles.push(`- **${row.case} — ${row.tool}** (${ratioText(row)}, target ${row.target?.text}): wall ${wall.toFixed(2)} s with --cpu-prof; CPU per thread (main = the JavaScript main thread; "node" = worker threads and libuv's pool): ${perThread}\n${summary}`);
  } catch (error) {
    profiles.push(`- **${row.case} — ${row.tool}**: profile failed: ${/** @type {Error} */ (error).message}`);
  } finally {
    cleanup();
  }
  writeResults();
}

/** @param {Row} r */
function formatRow(r) {
  const verdict = r.met === undefined ? '' : r.met ? '  met' : '  MISSED';
  return `${r.case.padEnd(30)} ${r.tool.padEnd(52)} ${r.seconds.toFixed(3).padStart(7)} s ±${(r.spread * 50).toFixed(0).padStart(2)}% ${ratioText(r).padStart(9)} ${(Number.isNaN(r.rssMb) ? '—' : r.rssMb.toFixed(0)).padStart(5)} MB${r.target ? `   target ${r.target.text}${verdict}` : ''}`;
}

/** @param {Row} r */
const ratioText = (r) => (r.ratio === undefined ? 'baseline' : `${r.ratio.toFixed(2)}×${r.ratioKind === 'time' ? ' time' : ''}`);

/** The backend a command's report names (`"crypto"` in decrypt --json), to label the rows honestly. @param {Record<string, string>} env */
function backendOf(env) {
  const a = makeArchive(batchMb);
  const result = spawnSync(process.execPath, [cli, 'decrypt', a.archive, '--key', benchKey(), '--password', a.password, '--json', '--quiet'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  try {
    const report = JSON.parse(result.stdout);
    return typeof report.crypto === 'string' ? report.crypto : 'unnamed (the report has no "crypto" field)';
  } catch {
    return `unknown (decrypt --json exited ${result.status}: ${result.stderr.trim().slice(0, 200)})`;
  }
}

/**
 * One core's HMAC-SHA256 rate (bytes/s), from the 65536-byte column of `openssl speed`. `-elapsed`:
 * without it openssl divides by CPU time, which on a loaded machine is the unloaded rate while every
 * other row is wall time under load.
 */
function hmacRate() {
  const out = spawnSync('openssl', ['speed', '-elapsed', '-hmac', 'sha256', '-seconds', '1', '-bytes', '65536'], { encoding: 'utf8' }).stdout;
  const match = /^hmac\(sha256\)\s+([\d.]+)k/m.exec(out);
  if (!match) throw new Error(`cannot parse openssl speed output: ${out}`);
  return Number(match[1]) * 1000;
}

// ---------------------------------------------------------------- cases

// The service's worker-process rows (bench/service.js, its own settings and section of the results);
// first, and alone when it is the only case, so that it needs none of the inputs below.
if (cases.has('service')) {
  const service = spawnSync(process.execPath, [join(root, 'bench', 'service.js')], { stdio: 'inherit' });
  if (service.status !== 0) throw new Error(`bench/service.js failed (exit ${service.status})`);
  if (cases.size === 1) process.exit(0);
}

const input = makeArchive(sizeMb);
const backends = { native: backendOf(native), fallback: backendOf(fallback) };
console.log(`archive: ${input.bytes} bytes (${sizeMb} MiB); ${runs} rounds per case; backends: default → ${backends.native}, ARCHIVE_CRYPT_NATIVE=0 → ${backends.fallback}`);
notes.push(`Backends, as \`decrypt --json\` names them: default → \`${backends.native}\`; \`ARCHIVE_CRYPT_NATIVE=0\` → \`${backends.fallback}\`.`);
const nativeLabel = (/** @type {string} */ name) => `${name} [native]`;
const fallbackLabel = (/** @type {string} */ name) => `${name} [fallback]`;

if (cases.has('stdout')) {
  await compare(`decrypt ${sizeMb} MiB to /dev/null`, input.bytes, [
    { name: 'openssl enc -d -aes-256-cbc > /dev/null', command: opensslDecrypt(input, '/dev/stdout') },
    { name: nativeLabel('decrypt --output - > /dev/null'), command: decrypt(input, ['--output', '-'], native), target: atLeast(2) },
    { name: nativeLabel('decrypt (verify only)'), command: decrypt(input, [], native), target: atLeast(2) },
    { name: fallbackLabel('decrypt --output - > /dev/null'), command: decrypt(input, ['--output', '-'], fallback), target: atLeast(before.stdout, ' (before)') },
    { name: fallbackLabel('decrypt (verify only)'), command: decrypt(input, [], fallback), target: atLeast(before.verify, ' (before)') },
  ]);
}

// What the hardware allows for decrypt to /dev/null: bench/floor.c (two threads over a mapping, no Node,
// no checks) gives the crypto's floor, `node -e 0` the runtime's; their sum bounds any Node process.
if (cases.has('floor')) {
  const floorBinary = join(work, 'floor');
  const built = spawnSync('cc', ['-O2', '-o', floorBinary, join(root, 'bench', 'floor.c'), '-lcrypto', '-lpthread'], { encoding: 'utf8' });
  if (built.status !== 0) {
    notes.push(`Floor: bench/floor.c did not build (\`cc … -lcrypto\` needs libssl-dev): ${(built.stderr || built.error?.message || '').trim().split('\n')[0]}`);
  } else {
    const small = makeArchive(4);
    const floor = (/** @type {number} */ threads) => ({ file: floorBinary, args: [input.archive, input.keyHex, input.ivHex, String(threads)] });
    const expected = String(input.bytes - 16); // bench archives: whole 188-byte packets, PKCS#7
    const check = spawnSync(floorBinary, floor(2).args, { encoding: 'utf8' }).stdout.trim();
    if (check !== expected) throw new Error(`bench/floor.c decrypted ${check} bytes, expected ${expected}`);
    const first = rows.length;
    await compare(`floor of decrypt ${sizeMb} MiB to /dev/null`, input.bytes, [
      { name: 'openssl enc -d -aes-256-cbc > /dev/null', command: opensslDecrypt(input, '/dev/stdout') },
      { name: 'bench/floor.c, C, one thread', command: floor(1) },
      { name: 'bench/floor.c, C, two threads', command: floor(2) },
      { name: 'node -e 0 (start-up alone)', command: { file: process.execPath, args: ['-e', '0'] } },
      { name: nativeLabel('decrypt (verify only), 4 MiB archive'), command: decrypt(small, [], native) },
      { name: nativeLabel('decrypt (verify only)'), command: decrypt(input, [], native) },
    ]);
    const [openssl, , twoThreads, node, fixed, ours] = rows.slice(first).map((r) => r.seconds);
    if (openssl && twoThreads && node && fixed && ours) {
      notes.push(
        `Floor (this run): a Node process can do no better than openssl / (node -e 0 + C on two threads) = ${openssl.toFixed(3)} / (${node.toFixed(3)} + ${twoThreads.toFixed(3)}) s = **${(openssl / (node + twoThreads)).toFixed(2)}×** against the 2.0× target; ` +
          `decrypt (verify only) reached ${(openssl / ours).toFixed(2)}× by medians. Its cost beyond a 4 MiB archive (${(ours - fixed).toFixed(3)} s for ${sizeMb - 4} MiB) against the C floor's ${twoThreads.toFixed(3)} s for ${sizeMb} MiB; its fixed cost beyond node -e 0 (a 4 MiB archive: ${(fixed - node).toFixed(3)} s) is start-up (modules, key) and the checks.`,
      );
    }
  }
}

if (cases.has('sha256')) {
  await compare(`SHA-256 check, ${sizeMb} MiB`, input.bytes, [
    { name: 'openssl dgst -sha256 (hash only)', command: { file: 'openssl', args: ['dgst', '-sha256', input.archive] } },
    { name: nativeLabel('decrypt --expect-sha256 (verify)'), command: decrypt(input, ['--expect-sha256', input.sha256], native), target: atLeast(0.95) },
    { name: fallbackLabel('decrypt --expect-sha256 (verify)'), command: decrypt(input, ['--expect-sha256', input.sha256], fallback), target: atLeast(before.sha256, ' (before)') },
  ]);
}

if (cases.has('sealed')) await sealedCase();

if (cases.has('file')) {
  const outOpenssl = join(work, 'out-openssl.ts');
  const outOurs = join(work, 'out-ours.ts');
  const cleanup = () => {
    rmSync(outOpenssl, { force: true });
    rmSync(outOurs, { force: true });
  };
  cleanup();
  const { args } = opensslDecrypt(input, outOpenssl);
  await compare(
    `decrypt ${sizeMb} MiB to a file`,
    input.bytes,
    [
      { name: 'openssl enc -d -out FILE && sync FILE', command: { file: 'sh', args: ['-c', `openssl ${args.join(' ')} && sync ${outOpenssl}`] } },
      { name: nativeLabel('decrypt --output FILE'), command: decrypt(input, ['--output', outOurs], native), target: atLeast(1) },
      { name: fallbackLabel('decrypt --output FILE'), command: decrypt(input, ['--output', outOurs], fallback), target: atLeast(before.file, ' (before, no sync)') },
    ],
    { cleanup },
  );
}

if (cases.has('startup')) {
  await compare(
    'start-up',
    0,
    [
      { name: 'node -e 0', command: { file: process.execPath, args: ['-e', '0'] } },
      { name: 'archive-crypt --version', command: ours(['--version']), target: { text: '≤ 1.15× time', met: (r) => r <= 1.15 } },
      { name: 'archive-crypt decrypt --help', command: ours(['decrypt', '--help']) },
    ],
    { rounds: runs * 4, ratioKind: 'time' },
  );
}

if (cases.has('rss')) {
  /** @type {Record<string, number>} */
  const peak = {};
  for (const mb of [256, 2048]) {
    const a = makeArchive(mb);
    /** @param {string} tool @returns {Target} */
    const flat = (tool) => ({
      text: mb === 256 ? 'RSS ≤ 150 MB' : 'RSS ≤ 150 MB, within 16 MB of 256 MiB',
      met: (_ratio, rss) => rss <= 150 && (mb === 256 || rss <= (peak[tool] ?? Number.NaN) + 16),
    });
    await compare(`peak RSS, ${mb} MiB`, a.bytes, [
      { name: 'openssl enc -d > /dev/null', command: opensslDecrypt(a, '/dev/stdout') },
      { name: nativeLabel('decrypt --output - > /dev/null'), command: decrypt(a, ['--output', '-'], native), target: flat('native') },
      { name: fallbackLabel('decrypt --output - > /dev/null'), command: decrypt(a, ['--output', '-'], fallback), target: flat('fallback') },
    ]);
    peak.native = rows.at(-2)?.rssMb ?? Number.NaN;
    peak.fallback = rows.at(-1)?.rssMb ?? Number.NaN;
  }
}

if (cases.has('paced') || cases.has('batch')) {
  const store = await startBenchStore({ directory: join(work, 's3rver'), paced: pace, processes: process.env.BENCH_STORE !== 'inprocess' });
  try {
    if (cases.has('paced')) await pacedCase(store);
    if (cases.has('batch')) await batchCase(store);
  } finally {
    await store.close();
  }
}

/**
 * The sealed format (docs/FORMAT.md): seal and unseal against one core's HMAC-SHA256, measured in
 * every round by `openssl speed -hmac sha256 -bytes 65536` and turned into the time the case's bytes
 * take at that rate (verification alone cannot be faster on one core).
 */
async function sealedCase() {
  const cert = join(work, 'bench-cert.pem');
  if (!existsSync(cert)) run('openssl', ['req', '-new', '-x509', '-key', benchKey(), '-subj', '/CN=archive-crypt bench', '-days', '3650', '-out', cert]);
  const sealed = join(work, `sealed-${sizeMb}.bin`);
  if (!existsSync(sealed)) run(process.execPath, [cli, 'seal', input.archive, '--to', cert, '--output', sealed, '--quiet']);
  const sealedBytes = statSync(sealed).size;
  /** @type {number[]} */
  const rates = [];
  /** @param {number} bytes @returns {Candidate} */
  const baseline = (bytes) => ({
    name: 'openssl speed -hmac sha256 -bytes 65536, one core',
    rateSeconds: () => {
      const rate = hmacRate();
      rates.push(rate);
      return bytes / rate;
    },
  });
  const seal = (/** @type {Record<string, string>} */ env) => ours(['seal', input.archive, '--to', cert, '--output', '-', '--quiet'], env);
  const unseal = (/** @type {Record<string, string>} */ env) => ours(['unseal', sealed, '--key', benchKey(), '--output', '-', '--quiet'], env);
  await compare(`seal ${sizeMb} MiB`, input.bytes, [
    baseline(input.bytes),
    { name: nativeLabel('seal --output - > /dev/null'), command: seal(native), target: atLeast(1.25) },
    { name: fallbackLabel('seal --output - > /dev/null'), command: seal(fallback), target: atLeast(before.seal, ' (before)') },
  ]);
  await compare(`unseal ${sizeMb} MiB`, sealedBytes, [
    baseline(sealedBytes),
    { name: nativeLabel('unseal --output - > /dev/null'), command: unseal(native), target: atLeast(1.25) },
    { name: fallbackLabel('unseal --output - > /dev/null'), command: unseal(fallback), target: atLeast(before.unseal, ' (before)') },
  ]);
  notes.push(
    `Sealed rows: the baseline's time is the case's bytes (seal: the ${input.bytes}-byte input; unseal: the ${sealedBytes}-byte sealed file) at the HMAC-SHA256 rate \`openssl speed -elapsed -hmac sha256 -seconds 1 -bytes 65536\` measured in each round (${rates.map((r) => (r / 1e9).toFixed(2)).join(', ')} GB/s); segments of 64 KiB (the default).`,
  );
}

/** `decrypt s3://…` through the paced store against one plain GetObject stream through createDecipheriv. */
/** @param {BenchStore} store */
async function pacedCase(store) {
  const a = makeArchive(pacedMb);
  const key = '46372/5f6d0b2e-0000-4000-8000-0000000bench/archive.mp4';
  await store.createBucket('bench');
  await store.put('bench', key, a.archive);
  const env = store.pacedEnv ?? {};
  /** @param {string[]} extra @param {Record<string, string>} backendEnv */
  const s3decrypt = (extra, backendEnv) =>
    ours(['decrypt', `s3://bench/${key}`, '--key', benchKey(), '--password', a.password, '--quiet', '--output', '-', ...extra], { ...env, ...backendEnv });
  await compare(`paced store, ${pacedMb} MiB`, a.bytes, [
    {
      name: 'one GetObject stream → createDecipheriv',
      command: { file: process.execPath, args: [join(root, 'bench', 'get-object.js'), 'bench', key, a.keyHex, a.ivHex], env },
    },
    { name: nativeLabel('decrypt s3://… --output -'), command: s3decrypt([], native), target: atLeast(3.5) },
    { name: fallbackLabel('decrypt s3://… --output -'), command: s3decrypt([], fallback) },
    // The default before 2026-12-02 (4 GETs), for comparison with today's 8.
    { name: nativeLabel('decrypt s3://… --download-concurrency 4'), command: s3decrypt(['--download-concurrency', '4'], native) },
  ]);
  // The store checksum (single-part ETag = MD5) is verified over every byte received: show its cost.
  const sample = randomBytes(64 * MiB);
  const started = performance.now();
  createHash('md5').update(sample).digest();
  const md5Rate = sample.length / ((performance.now() - started) / 1000);
  const row = rows.find((r) => r.case.startsWith('paced store') && r.tool.startsWith(nativeLabel('decrypt s3://… --output -')));
  notes.push(
    `Paced store: s3rver on 127.0.0.1 behind bench/paced-proxy.js (${store.where}), ${pace.bytesPerSecond / 1e6} MB/s per connection and ${pace.firstByteLatencyMs} ms to the first byte of every answer; a ${pacedMb} MiB archive uploaded in one part, so its ETag is its MD5 and \`decrypt\` verifies it. ` +
      `MD5 cost: node:crypto MD5 runs at ${(md5Rate / 1e9).toFixed(2)} GB/s here, ${(a.bytes / md5Rate).toFixed(2)} s of CPU for the archive` +
      (row ? `, against ${row.seconds.toFixed(2)} s wall for the whole decrypt, whose process used ${row.cpuSeconds.toFixed(2)} s of CPU in all (user + system): the download, not the checksum, sets the pace.` : '.'),
  );
}

/** `batch` of 32 archives through the paced store, verify only: --concurrency 4 against 1. */
/** @param {BenchStore} store */
async function batchCase(store) {
  const one = makeArchive(batchMb);
  await store.createBucket('batch');
  const items = [];
  for (let i = 0; i < 32; i += 1) {
    const id = `5f6d0b2e-0000-4000-8000-${String(i).padStart(12, '0')}`;
    await store.put('batch', `46372/${id}/archive.mp4`, one.archive);
    items.push({ id, status: 'uploaded', password: one.password, size: one.bytes, sha256sum: one.sha256, projectId: 46372, outputMode: 'composed' });
  }
  const list = join(work, 'batch-list.json');
  writeFileSync(list, JSON.stringify({ count: items.length, items }));
  const env = store.pacedEnv ?? {};
  /** @param {number} concurrency @param {Record<string, string>} backendEnv */
  const batch = (concurrency, backendEnv) =>
    ours(
      ['batch', '--archives', list, '--from', 's3://batch', '--api-key', '46372', '--key', benchKey(), '--verify-only', '--quiet', '--concurrency', String(concurrency)],
      { ...env, ...backendEnv },
    );
  await compare(`paced store, batch 32 × ${batchMb} MiB`, 32 * one.bytes, [
    { name: nativeLabel('batch --concurrency 1'), command: batch(1, native) },
    { name: nativeLabel('batch --concurrency 4'), command: batch(4, native), target: atLeast(3) },
    { name: fallbackLabel('batch --concurrency 4'), command: batch(4, fallback) },
  ]);
  notes.push(
    `Batch: 32 archives of ${batchMb} MiB (each below the 8 MiB part size, so one GET per archive and concurrency is the only parallelism), --verify-only, through the same paced store; ratio = time with --concurrency 1 / this time.`,
  );
}

// ---------------------------------------------------------------- report

writeResults();
console.log(`\nwrote ${process.env.BENCH_OUT ?? 'bench/RESULTS.md'}`);

function writeResults() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = (/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? '').split(' ');
  const cpuFlags = ['aes', 'vaes', 'pclmulqdq', 'vpclmulqdq', 'sha_ni', 'avx2', 'avx512f'].filter((f) => flags.includes(f));
  const opensslVersion = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  const table = [
    '| case | tool | median s | spread | GB/s | ratio | target | verdict | peak RSS MB | CPU s | load |',
    '| --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.tool} | ${r.seconds.toFixed(3)} | ±${(r.spread * 50).toFixed(0)} % | ${r.gbps ? r.gbps.toFixed(2) : '—'} | ${ratioText(r)} | ${r.target?.text ?? ''} | ${r.met === undefined ? '' : r.met ? 'met' : '**missed**'} | ${Number.isNaN(r.rssMb) ? '—' : r.rssMb.toFixed(0)} | ${Number.isNaN(r.cpuSeconds) ? '—' : r.cpuSeconds.toFixed(2)} | ${r.load} |`,
    ),
  ].join('\n');
  const text = `# Benchmark results

Generated by \`npm run bench\` (bench/run.js), ${startedAt.toISOString()} – ${new Date().toISOString()}.

## Machine

- CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores; flags: ${cpuFlags.join(', ') || 'none of aes/sha_ni'}
- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB; load average (1, 5, 15 min) at the start ${loadAtStart}, at the end ${loadAverage()}
- Node ${process.version}; ${opensslVersion}
- Peak RSS and CPU: ${gnuTime ? `GNU time \`%M %U %S\` (${gnuTime}: the child's ru_maxrss and CPU from wait4, threads included)` : 'not available (no GNU time)'}

## Command

\`\`\`sh
BENCH_MB=${sizeMb} BENCH_RUNS=${runs} BENCH_PACED_MB=${pacedMb} BENCH_BATCH_MB=${batchMb} BENCH_PACE_MBPS=${pace.bytesPerSecond / 1e6} BENCH_PACE_LATENCY_MS=${pace.firstByteLatencyMs} BENCH_CASES=${[...cases].join(',')} npm run bench
\`\`\`

Whole processes, start-up included, page cache warm. Each case runs ${runs} rounds (start-up ${runs * 4}) in
which every row runs once, in table order; **ratio = median over the rounds of (baseline time / this
time)** — above 1 is faster than the case's first row — except start-up, where it is this time /
\`node -e 0\`'s (below 1.15 is the target). "spread" is ±half the range of the runs around the median;
"load" the 1-minute load average when the case started (other engineers' suites share the 2 cores).
[native] rows run the default backend, [fallback] rows \`ARCHIVE_CRYPT_NATIVE=0\` (node:crypto); the
fallback's bar is the ratio of the last run before the native engine ("before", bench/ANALYSIS.md).

## Results

${table}

${notes.map((n) => `- ${n}`).join('\n')}
${
  profiles.length > 0
    ? `
## Profiles of the rows that missed

One extra run each with \`node --cpu-prof\`; CPU per thread sampled from /proc/<pid>/task every 20 ms
(the profiler itself costs a few per cent). Self time per function, largest first.

${profiles.join('\n')}
`
    : ''
}`;
  const analysis = join(root, 'bench', 'ANALYSIS.md');
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'RESULTS.md');
  // bench/service.js keeps its own section at the end of the file, between markers: carry it over.
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const service = /<!-- service:begin[\s\S]*<!-- service:end -->\n?/.exec(previous)?.[0];
  const body = existsSync(analysis) ? `${text}\n${readFileSync(analysis, 'utf8')}` : text;
  writeFileSync(out, service ? `${body.trimEnd()}\n\n${service}` : body);
}
