#!/usr/bin/env node
// Library-level seal and unseal for bench/run.js, to compare one thread and the pool in whole processes:
//   sealed-lib.js unseal <sealed file> <private key pem> serial|parallel   (plaintext to stdout)
//   sealed-lib.js seal <input> <private key pem> serial|parallel           (sealed file to stdout)
// `parallel` forces the pool (parallelThreshold 0: the private pool the engine starts, cores − 1
// threads); `serial` keeps everything on the main thread. With BENCH_THREAD_CPU=1 it prints, on stderr
// as JSON, the wall time, each thread's CPU seconds (/proc/self/task/*/stat) and how many runs the pool
// took, for the per-thread analysis. Engine modules only: importing the whole library (dist/index.js)
// would add its load time.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { streamSink } from '../dist/engine/output.js';
import { createDecryptPool } from '../dist/engine/pool.js';
import { sealArchive } from '../dist/engine/seal.js';
import { unsealArchive } from '../dist/engine/unseal.js';
import { FileSource } from '../dist/storage/file.js';

const [operation, path, keyPath, mode] = process.argv.slice(2);
const instrument = process.env.BENCH_THREAD_CPU === '1';
// Instrumented runs pass their own pool (the same settings as the private one) to count its tasks.
const pool = instrument && mode === 'parallel' ? createDecryptPool({ queueInThread: true }) : undefined;
const common = {
  source: new FileSource(path),
  sink: streamSink(process.stdout),
  parallelThreshold: mode === 'parallel' ? 0 : Number.POSITIVE_INFINITY,
  ...(pool ? { pool } : {}),
};
const key = createPrivateKey(readFileSync(keyPath));
const started = performance.now();
const report =
  operation === 'seal' ? await sealArchive({ ...common, recipients: [createPublicKey(key)] }) : await unsealArchive({ ...common, keyring: [key] });
if (instrument) {
  const wall = (performance.now() - started) / 1000;
  const threads = readdirSync('/proc/self/task').map((tid) => {
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
    const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    return { tid: Number(tid), name, cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
  });
  process.stderr.write(`${JSON.stringify({ wall, threads, poolTasks: pool?.completedTasks ?? 0, segments: report.segments })}\n`);
}
await pool?.destroy();
